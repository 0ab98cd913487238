; kill.scm — a plug-in killed in the middle of a run leaves the image as it was.
; Globals from run-in-root.sh: ddim-tests, ddim-fixtures, ddim-data.
;
; GIMP's Cancel ends a plug-in with SIGKILL.  run-in-root.sh starts a killer
; beside this script: it waits for each of the first two "-run" processes of
; the ddim plug-in, lets it compute for a second, and kills it with SIGKILL.
; The two runs here (reconstruct and generate into the image, 1000 steps:
; seconds of work) are those two; each must fail, and afterwards the image
; must have the same layers with the same pixels, no parasite, no new image,
; the same dirty state, and a working undo stack.  A third run, not killed,
; must then work normally.

(load (string-append ddim-tests "/lib.scm"))

(define M1 (string-append ddim-fixtures "/google_f32"))
(define grad16 (string-append ddim-data "/grad16.png"))
(define radial16 (string-append ddim-data "/radial16.png"))

(define image (gimp-image-new 16 16 RGB))
(define bottom (load-layer image grad16 "bottom"))
(define top (load-layer image radial16 "top"))
(gimp-image-set-selected-layers image (vector bottom))
(define reference (gimp-image-duplicate image))
(define names-before (layer-names image))
(define dirty-before (gimp-image-is-dirty image))
(define images-before (vector-length (gimp-get-images)))

(define (unchanged? what)
  (let ((layers (vector->list (gimp-image-get-layers image)))
        (kept (vector->list (gimp-image-get-layers reference))))
    (check-equal (string-append what ": the same layers") names-before (layer-names image))
    (check-equal (string-append what ": the same pixels") 0
                 (apply + (map (lambda (a b) (count-different a b 16 16 (/ 0.5 255))) layers kept)))
    (check (string-append what ": no latent parasite was attached")
           (not (or (has-latent? bottom) (has-latent? top))))
    (check-equal (string-append what ": no new image") images-before
                 (vector-length (gimp-get-images)))
    (check-equal (string-append what ": the same dirty state") dirty-before
                 (gimp-image-is-dirty image))))

(define (killed? name thunk)
  (let ((result (try thunk)))
    (check (string-append name ": the run was killed (it fails)") (failed? result)
           "it finished before the kill: " (->string result))
    (say "# " name ": " (error-text result))))

(killed? "reconstruct"
  (lambda () (plug-in-ddim-reconstruct #:image image #:drawables (vector bottom) #:model M1
                                       #:steps 1000)))
(unchanged? "killed reconstruct")

(killed? "generate into the image"
  (lambda () (plug-in-ddim-generate #:image image #:model M1 #:steps 1000 #:count 2
                                    #:output "new-layer")))
(unchanged? "killed generate")

; The undo stack still works: an undo group opens and closes around an edit,
; and the plug-in still runs on the image (one new layer, in one undo group).
(check "undo is still enabled on the image" (gimp-image-undo-is-enabled image))
(check-runs "an undo group opens and closes after the kills"
  (lambda ()
    (gimp-image-undo-group-start image)
    (gimp-item-set-name top "top (renamed)")
    (gimp-image-undo-group-end image)))
(check-equal "the edit in that group took effect" "top (renamed)" (gimp-item-get-name top))
(let ((result (check-runs "a run after the kills works"
                (lambda () (plug-in-ddim-reconstruct #:image image #:drawables (vector bottom)
                                                     #:model M1 #:steps 2)))))
  (check-equal "it adds exactly one layer" (+ 1 (length names-before))
               (length (layer-names image))))

(gimp-image-delete reference)
(gimp-image-delete image)
(finish "kill")
