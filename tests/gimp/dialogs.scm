; dialogs.scm — opens every DDIM dialog (run mode INTERACTIVE) on a 64×48
; image, one after the other; run-in-root.sh's shooter screenshots each one and
; closes it with Cancel, except Vary in English, which it accepts with OK (and
; screenshots while it runs).  In English, two more runs are cancelled while
; running (see the end).
; Globals: ddim-tests, ddim-fixtures, ddim-lang.

(load (string-append ddim-tests "/lib.scm"))

(define M1 (string-append ddim-fixtures "/google_f32"))
(define image (gimp-image-new 64 48 RGB))
(define first-layer (gimp-layer-new image "first" 64 48 RGB-IMAGE 100 LAYER-MODE-NORMAL))
(define second-layer (gimp-layer-new image "second" 64 48 RGB-IMAGE 100 LAYER-MODE-NORMAL))
(gimp-image-insert-layer image first-layer 0 0)
(gimp-image-insert-layer image second-layer 0 0)
(gimp-context-set-foreground "#e05020")
(gimp-context-set-background "#2050e0")
(gimp-drawable-edit-gradient-fill first-layer GRADIENT-LINEAR 0 #f 1 0 #f 0 0 64 48)
(gimp-drawable-edit-gradient-fill second-layer GRADIENT-RADIAL 0 #f 1 0 #f 32 24 0 0)
(check-runs (string-append "dialogs (" ddim-lang "): encode a latent for the Decode dialog")
  (lambda () (plug-in-ddim-encode #:image image #:drawables (vector first-layer) #:model M1 #:steps 10)))

(define (open-dialog name thunk)
  (let ((result (try thunk)))
    (check (string-append "dialogs (" ddim-lang "): " name " opened and closed") (not (failed? result))
           (error-text result))
    result))

(define I RUN-INTERACTIVE)
(open-dialog "generate"
  (lambda () (plug-in-ddim-generate #:run-mode I #:image image #:drawables (vector first-layer) #:model M1)))
(open-dialog "reconstruct"
  (lambda () (plug-in-ddim-reconstruct #:run-mode I #:image image #:drawables (vector first-layer) #:model M1)))
(define layers-before (length (layer-names image)))
(open-dialog "vary"
  (lambda () (plug-in-ddim-vary #:run-mode I #:image image #:drawables (vector first-layer) #:model M1
                                #:count 2)))
(if (string=? ddim-lang "en")
    (check-equal "dialogs (en): OK in Vary made two variations" (+ layers-before 2)
                 (length (layer-names image))))
(open-dialog "interpolate"
  (lambda () (plug-in-ddim-interpolate #:run-mode I #:image image #:drawables (vector first-layer second-layer)
                                       #:model M1)))
(open-dialog "encode"
  (lambda () (plug-in-ddim-encode #:run-mode I #:image image #:drawables (vector first-layer) #:model M1)))
(open-dialog "decode"
  (lambda () (plug-in-ddim-decode #:run-mode I #:image image #:drawables (vector first-layer) #:model M1)))

; Two more dialogs (English only): Generate with the default model (a script's
; #:model "": the chooser must name it), and Reconstruct with a folder that is
; not a model (OK must be insensitive; the shooter cancels).
(if (string=? ddim-lang "en")
    (begin
      (open-dialog "generate with the default model"
        (lambda () (plug-in-ddim-generate #:run-mode I #:image image #:drawables (vector first-layer)
                                          #:model "")))
      (open-dialog "reconstruct with a folder that is not a model"
        (lambda () (plug-in-ddim-reconstruct #:run-mode I #:image image #:drawables (vector first-layer)
                                             #:model ddim-fixtures)))))

; The running dialog (English only).  The shooter presses OK; run-in-root.sh
; sets the plug-in's test hooks so that every network evaluation is slowed
; (DDIM_PLUGIN_TEST_STEP_DELAY_MS) and the dialog presses its own Cancel
; button in Reconstruct and closes its window in Generate mid-run
; (DDIM_PLUGIN_TEST_PRESS): neither may change the image at all.
(define (check-untouched name thunk)
  (gimp-image-clean-all image)
  (let ((before (layer-names image)))
    (open-dialog name thunk)
    (check-equal (string-append "dialogs (en): " name ": no new layer") before (layer-names image))
    (check (string-append "dialogs (en): " name ": no undo step (the image is clean)")
           (not (gimp-image-is-dirty image)))))
(if (string=? ddim-lang "en")
    (begin
      (check-untouched "reconstruct, Cancel while running"
        (lambda () (plug-in-ddim-reconstruct #:run-mode I #:image image #:drawables (vector first-layer)
                                             #:model M1 #:steps 25)))
      (check-untouched "generate, window closed while running"
        (lambda () (plug-in-ddim-generate #:run-mode I #:image image #:drawables (vector first-layer)
                                          #:model M1 #:steps 50 #:count 2 #:output "new-layer")))))

(gimp-image-delete image)
(finish (string-append "dialogs-" ddim-lang))
