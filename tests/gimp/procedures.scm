; procedures.scm — every DDIM procedure from Script-Fu with named arguments.
; Globals from run-in-root.sh: ddim-tests, ddim-fixtures, ddim-data (inputs
; and the ddim command's results), ddim-cli-psnr.
; The fixture models are random 16×16 networks: google_f32 (RGB) and
; diffusers_f16 (RGBA); their images are noise-like, so the tests check
; structure, exactness against the ddim command, and invariants.

(load (string-append ddim-tests "/lib.scm"))

(define M1 (string-append ddim-fixtures "/google_f32"))
(define M4 (string-append ddim-fixtures "/diffusers_f16"))
(define grad16 (string-append ddim-data "/grad16.png"))
(define radial16 (string-append ddim-data "/radial16.png"))
(define one-level (/ 1.5 255)) ; differences below this are 8-bit rounding

(gimp-context-set-antialias #f)
(gimp-context-set-feather #f)

; ---- generate ---------------------------------------------------------------

(let ((result (check-runs "generate: a new image with 3 seeds"
                (lambda () (plug-in-ddim-generate #:model M1 #:steps 10 #:seed 7 #:count 3)))))
  (if result
      (let* ((image (car result)) (layers (cadr result)))
        (check-equal "generate: 3 images of the model's size in a 2×2 grid" '(32 32)
                     (list (gimp-image-get-width image) (gimp-image-get-height image)))
        (check-equal "generate: each image in its own cell, first seed top left"
                     '((0 0) (16 0) (0 16))
                     (map gimp-drawable-get-offsets (vector->list layers)))
        (check-equal "generate: one layer per seed, named seed first, the first seed at the bottom"
                     '("Seed 9 · DDIM generate" "Seed 8 · DDIM generate" "Seed 7 · DDIM generate")
                     (layer-names image))
        (check-equal "generate: the returned layers, first seed first"
                     '("Seed 7 · DDIM generate" "Seed 8 · DDIM generate" "Seed 9 · DDIM generate")
                     (map gimp-item-get-name (vector->list layers)))
        (check "generate: every layer keeps its latent x_T"
               (and (has-latent? (vector-ref layers 0)) (has-latent? (vector-ref layers 2))))
        (check-equal "generate: an RGB model gives layers without alpha" #f
                     (gimp-drawable-has-alpha (vector-ref layers 0)))
        (let ((cli (load-layer image (string-append ddim-data "/cli-generate-seed7.png") "cli")))
          (check-equal "generate: seed 7 is the image `ddim generate --seed 7` makes" 0
                       (count-different (vector-ref layers 0) cli 16 16 one-level)))
        (check "generate: seeds give different images"
               (> (count-different (vector-ref layers 0) (vector-ref layers 1) 16 16 one-level) 0))
        (gimp-image-delete image))))

(let ((result (check-runs "generate: an output size of 40×24"
                (lambda () (plug-in-ddim-generate #:model M1 #:steps 4 #:seed 1 #:width 40 #:height 24)))))
  (if result
      (let ((image (car result)))
        (check-equal "generate: 40×24 image and layer" '(40 24 40 24)
                     (append (list (gimp-image-get-width image) (gimp-image-get-height image))
                             (size-of (vector-ref (cadr result) 0))))
        (check-equal "generate: a size given is sampled at that size (in tiles), not scaled"
                     '("Seed 1 · DDIM generate") (layer-names image))
        (gimp-image-delete image))))

(let* ((made (new-image-with-layer 30 20 RGB-IMAGE "background"))
       (image (car made))
       (result (check-runs "generate: new layers in the current image"
                 (lambda () (plug-in-ddim-generate #:image image #:model M1 #:steps 4 #:seed 3
                                                   #:count 2 #:output "new-layer")))))
  (if result
      (begin
        (check-equal "generate: the layers go into the given image" image (car result))
        (check-equal "generate: two new layers above the background, one picture each (the image is larger than the model: made at 16×16 and scaled)"
                     '("Seed 4 · DDIM generate (scaled from 16×16)"
                       "Seed 3 · DDIM generate (scaled from 16×16)" "background")
                     (layer-names image))
        (check-equal "generate: new layers take the image's size" '(30 20)
                     (size-of (vector-ref (cadr result) 0)))))
  (gimp-image-delete image))

; New layers over a selected layer with a selection fill the selection
; (inpainting): the layer is kept outside it.
(let* ((made (new-image-with-layer 40 32 RGB-IMAGE "photo"))
       (image (car made)) (layer (cadr made)))
  (gimp-context-set-foreground "#e03010")
  (gimp-context-set-background "#10a0f0")
  (gimp-drawable-edit-gradient-fill layer GRADIENT-LINEAR 0 #f 1 0 #f 0 0 40 32)
  (gimp-image-select-rectangle image CHANNEL-OP-REPLACE 12 8 16 16)
  (let ((result (check-runs "generate: fill a selection of a 40×32 layer"
                  (lambda () (plug-in-ddim-generate #:image image #:drawables (vector layer)
                                                    #:model M1 #:steps 6 #:seed 4
                                                    #:output "new-layer")))))
    (if result
        (let ((new (vector-ref (cadr result) 0)))
          (check-equal "generate: the fill has the layer's size and place" '((40 32) (0 0))
                       (list (size-of new) (gimp-drawable-get-offsets new)))
          (check-equal "generate: pixels outside the selection are the layer's" 0
                       (count-different layer new 40 32 (/ 0.5 255)
                                        (lambda (scratch)
                                          (gimp-image-select-rectangle scratch CHANNEL-OP-REPLACE 12 8 16 16)
                                          (gimp-selection-invert scratch))))
          (check "generate: pixels inside the selection are generated"
                 (> (count-different layer new 40 32 one-level
                                     (lambda (scratch)
                                       (gimp-image-select-rectangle scratch CHANNEL-OP-REPLACE 12 8 16 16)))
                    0)))))
  (gimp-image-delete image))

(let ((result (check-runs "generate: an RGBA model"
                (lambda () (plug-in-ddim-generate #:model M4 #:steps 4 #:seed 2)))))
  (if result
      (begin
        (check-equal "generate: an RGBA model gives layers with alpha" #t
                     (gimp-drawable-has-alpha (vector-ref (cadr result) 0)))
        (gimp-image-delete (car result)))))

(let* ((made (new-image-with-layer 16 16 GRAY-IMAGE "grey"))
       (image (car made))
       (result (check-runs "generate: new layers in a grayscale image"
                 (lambda () (plug-in-ddim-generate #:image image #:model M1 #:steps 4 #:output "new-layer")))))
  (if result
      (check-equal "generate: the new layer is grayscale" #t
                   (gimp-drawable-is-gray (vector-ref (cadr result) 0))))
  (gimp-image-delete image))

; ---- reconstruct --------------------------------------------------------------

(define recon-image (gimp-image-new 16 16 RGB))
(define recon-source (load-layer recon-image grad16 "gradient"))
(define recon-layer #f)
(let ((result (check-runs "reconstruct: a 16×16 RGB layer"
                (lambda () (plug-in-ddim-reconstruct #:image recon-image #:drawables (vector recon-source)
                                                     #:model M1 #:steps 10)))))
  (if result
      (let ((layer (car result)) (psnr (cadr result)))
        (set! recon-layer layer)
        (check "reconstruct: PSNR above the floor of 12 dB" (> psnr 12.0) "psnr " psnr)
        (check "reconstruct: PSNR is the one `ddim reconstruct` prints"
               (< (abs (- psnr ddim-cli-psnr)) 0.01) "plug-in " psnr ", ddim " ddim-cli-psnr)
        (check "reconstruct: named with the PSNR first, then the steps"
               (let ((name (gimp-item-get-name layer)))
                 (and (string-starts? name "Reconstruct ")
                      (string-contains? name " dB · 10 steps")
                      (not (string-contains? name "scaled"))))
               (gimp-item-get-name layer))
        (check-equal "reconstruct: the new layer is directly above its source" '(0 1)
                     (list (gimp-image-get-item-position recon-image layer)
                           (gimp-image-get-item-position recon-image recon-source)))
        (check "reconstruct: the latent is kept on the new layer" (has-latent? layer))
        (let ((cli (load-layer recon-image (string-append ddim-data "/cli-reconstruct.png") "cli")))
          (check-equal "reconstruct: the pixels are those of `ddim reconstruct`" 0
                       (count-different layer cli 16 16 one-level))
          (gimp-image-remove-layer recon-image cli)))))

; Offsets and alpha: a 20×12 RGBA layer at (5, 7), its left half transparent.
(let* ((image (gimp-image-new 60 40 RGB))
       (layer (gimp-layer-new image "alpha" 20 12 RGBA-IMAGE 100 LAYER-MODE-NORMAL)))
  (gimp-image-insert-layer image layer 0 0)
  (gimp-layer-set-offsets layer 5 7)
  (gimp-context-set-foreground "#c04020")
  (gimp-context-set-background "#2080f0")
  (gimp-drawable-edit-gradient-fill layer GRADIENT-LINEAR 0 #f 1 0 #f 0 0 20 12)
  (gimp-image-select-rectangle image CHANNEL-OP-REPLACE 5 7 10 12)
  (gimp-drawable-edit-clear layer)
  (gimp-selection-none image)
  (let ((result (check-runs "reconstruct: an RGBA layer with offsets"
                  (lambda () (plug-in-ddim-reconstruct #:image image #:drawables (vector layer)
                                                       #:model M1 #:steps 5)))))
    (if result
        (let ((new (car result)))
          (check-equal "reconstruct: same size and offsets as the source" '((20 12) (5 7))
                       (list (size-of new) (gimp-drawable-get-offsets new)))
          (check "reconstruct: the source's transparency is kept"
                 (and (gimp-drawable-has-alpha new)
                      (< (abs (- (mean-alpha new) (mean-alpha layer))) 0.01))
                 "alpha means " (mean-alpha new) " and " (mean-alpha layer))
          (check "reconstruct: at its own 20×12, not scaled"
                 (not (string-contains? (gimp-item-get-name new) "scaled"))
                 (gimp-item-get-name new)))))
  (let ((result (check-runs "reconstruct: scale-to-model"
                  (lambda () (plug-in-ddim-reconstruct #:image image #:drawables (vector layer)
                                                       #:model M1 #:steps 5 #:scale-to-model #t)))))
    (if result
        (let ((new (car result)))
          (check-equal "reconstruct: scaled back to the layer's size" '(20 12) (size-of new))
          (check "reconstruct: the name says the layer was scaled"
                 (string-contains? (gimp-item-get-name new) "(scaled from 16×16)")
                 (gimp-item-get-name new)))))
  (gimp-image-delete image))

; A 40×28 layer (not the model's 16×16) at native resolution: tiled, the same
; pixels and PSNR as `ddim reconstruct` of the same PNG.
(let* ((image (gimp-image-new 40 28 RGB))
       (layer (load-layer image (string-append ddim-data "/grad40x28.png") "wide"))
       (result (check-runs "reconstruct: a 40×28 layer at native resolution"
                 (lambda () (plug-in-ddim-reconstruct #:image image #:drawables (vector layer)
                                                      #:model M1 #:steps 10)))))
  (if result
      (let ((new (car result)))
        (check-equal "reconstruct: 40×28 in, 40×28 out" '(40 28) (size-of new))
        (check "reconstruct: named with the PSNR, not scaled"
               (let ((name (gimp-item-get-name new)))
                 (and (string-contains? name " dB") (not (string-contains? name "scaled"))))
               (gimp-item-get-name new))
        (let ((cli (load-layer image (string-append ddim-data "/cli-reconstruct-40x28.png") "cli")))
          (check-equal "reconstruct: 40×28 pixels are those of `ddim reconstruct` (tiled)" 0
                       (count-different new cli 40 28 one-level)))))
  (gimp-image-delete image))

(let* ((made (new-image-with-layer 16 16 GRAY-IMAGE "grey"))
       (image (car made)) (layer (cadr made)))
  (gimp-drawable-edit-gradient-fill layer GRADIENT-LINEAR 0 #f 1 0 #f 0 0 16 16)
  (let ((result (check-runs "reconstruct: a grayscale layer"
                  (lambda () (plug-in-ddim-reconstruct #:image image #:drawables (vector layer)
                                                       #:model M1 #:steps 5)))))
    (if result
        (check-equal "reconstruct: the result is grayscale" #t (gimp-drawable-is-gray (car result)))))
  (gimp-image-delete image))

; Scaled to the model's size and back, the PSNR is the one at the layer's
; own size: recomputed here from the two layers' pixels (per channel, the
; difference's mean² + variance; the histogram's statistics are on the 0–255
; scale), to the 8-bit rounding of the layers.
(define (difference-psnr a b width height)
  (let* ((scratch (gimp-image-new width height RGB))
         (la (gimp-layer-new-from-drawable a scratch))
         (lb (gimp-layer-new-from-drawable b scratch)))
    (gimp-image-insert-layer scratch la 0 0)
    (gimp-image-insert-layer scratch lb 0 0)
    (gimp-layer-set-offsets la 0 0)
    (gimp-layer-set-offsets lb 0 0)
    (gimp-layer-set-mode lb LAYER-MODE-DIFFERENCE)
    (let* ((merged (gimp-image-merge-visible-layers scratch CLIP-TO-IMAGE))
           (channel-mse (lambda (channel)
                          (let ((h (gimp-drawable-histogram merged channel 0.0 1.0)))
                            (/ (+ (* (car h) (car h)) (* (cadr h) (cadr h))) (* 255.0 255.0)))))
           (mse (/ (+ (channel-mse HISTOGRAM-RED) (channel-mse HISTOGRAM-GREEN)
                      (channel-mse HISTOGRAM-BLUE))
                   3)))
      (gimp-image-delete scratch)
      (* -10 (/ (log mse) (log 10))))))

(let* ((image (gimp-image-new 20 12 RGB))
       (layer (gimp-layer-new image "opaque" 20 12 RGB-IMAGE 100 LAYER-MODE-NORMAL)))
  (gimp-image-insert-layer image layer 0 0)
  (gimp-context-set-foreground "#d06020")
  (gimp-context-set-background "#2040c0")
  (gimp-drawable-edit-gradient-fill layer GRADIENT-RADIAL 0 #f 1 0 #f 10 6 0 0)
  (let ((result (check-runs "reconstruct: scale-to-model, PSNR at the layer's size"
                  (lambda () (plug-in-ddim-reconstruct #:image image #:drawables (vector layer)
                                                       #:model M1 #:steps 5 #:scale-to-model #t)))))
    (if result
        (let* ((new (car result)) (psnr (cadr result))
               (measured (difference-psnr layer new 20 12)))
          (check "reconstruct: the scaled run's PSNR is the one at 20×12 (within 8-bit rounding)"
                 (< (abs (- psnr measured)) 0.5) "reported " psnr ", at 20×12 " measured))))
  (gimp-image-delete image))

; A model with an alpha channel (M4) on an opaque layer: the result is
; opaque too, not the model's alpha (which would let what is below show).
(let* ((image (gimp-image-new 16 16 RGB))
       (source (load-layer image grad16 "photo")))
  (let ((result (check-runs "reconstruct: an opaque layer with an RGBA model"
                  (lambda () (plug-in-ddim-reconstruct #:image image #:drawables (vector source)
                                                       #:model M4 #:steps 4)))))
    (if result
        (check "reconstruct: the result of an opaque layer is opaque"
               (or (not (gimp-drawable-has-alpha (car result))) (> (mean-alpha (car result)) 254.9))
               "the result has an alpha channel that is not opaque")))
  (let ((result (check-runs "vary: an opaque layer with an RGBA model"
                  (lambda () (plug-in-ddim-vary #:image image #:drawables (vector source) #:model M4
                                                #:strength 0.9 #:steps 4 #:seed 2)))))
    (if result
        (let ((new (vector-ref result 0)))
          (check "vary: the variation of an opaque layer is opaque"
                 (or (not (gimp-drawable-has-alpha new)) (> (mean-alpha new) 254.9))
                 "the variation has an alpha channel that is not opaque"))))
  (gimp-image-delete image))

; ---- vary ---------------------------------------------------------------------

(let* ((image (gimp-image-new 16 16 RGB))
       (source (load-layer image grad16 "source"))
       (result (check-runs "vary: two variations"
                 (lambda () (plug-in-ddim-vary #:image image #:drawables (vector source) #:model M1
                                               #:strength 0.5 #:steps 10 #:seed 5 #:count 2)))))
  (if result
      (begin
        (check-equal "vary: named with strength and seed, first seed lowest, above the source"
                     '("Vary seed 6 · strength 0.5" "Vary seed 5 · strength 0.5" "source")
                     (layer-names image))
        (check "vary: a variation differs from the source"
               (> (count-different source (vector-ref result 0) 16 16 one-level) 0))
        (check "vary: the two seeds give different variations"
               (> (count-different (vector-ref result 0) (vector-ref result 1) 16 16 one-level) 0))))
  (gimp-image-delete image))

; With an elliptic selection: a masked run at native resolution (the
; selection's bounds and some context, tiled); the layer covers the
; selection's bounds and only the selected pixels change.
(let* ((made (new-image-with-layer 32 32 RGB-IMAGE "source"))
       (image (car made)) (source (cadr made)))
  (gimp-context-set-foreground "#f0c010")
  (gimp-context-set-background "#1030a0")
  (gimp-drawable-edit-gradient-fill source GRADIENT-LINEAR 0 #f 1 0 #f 0 0 32 32)
  (gimp-image-select-ellipse image CHANNEL-OP-REPLACE 4 6 20 16)
  (let ((result (check-runs "vary: within an elliptic selection"
                  (lambda () (plug-in-ddim-vary #:image image #:drawables (vector source) #:model M1
                                                #:strength 0.8 #:steps 10 #:seed 1)))))
    (if result
        (let ((new (vector-ref result 0)))
          (check-equal "vary: the new layer covers the selection's bounds" '((20 16) (4 6))
                       (list (size-of new) (gimp-drawable-get-offsets new)))
          (check-equal "vary: at native resolution, not scaled"
                       "Vary seed 1 · strength 0.8" (gimp-item-get-name new))
          (check-equal "vary: pixels outside the selection are unchanged" 0
                       (count-different source new 32 32 one-level
                                        (lambda (scratch)
                                          (gimp-image-select-ellipse scratch CHANNEL-OP-REPLACE 4 6 20 16)
                                          (gimp-selection-invert scratch)
                                          (gimp-image-select-rectangle scratch CHANNEL-OP-INTERSECT 4 6 20 16))))
          (check "vary: pixels inside the selection change"
                 (> (count-different source new 32 32 one-level
                                     (lambda (scratch)
                                       (gimp-image-select-ellipse scratch CHANNEL-OP-REPLACE 4 6 20 16)))
                    0)))))
  (gimp-image-delete image))

; ---- interpolate ----------------------------------------------------------------

(let* ((image (gimp-image-new 16 16 RGB))
       (a (load-layer image grad16 "a"))
       (b (load-layer image radial16 "b"))
       ; the upper layer first: the order of the stack decides, not the call's
       (result (check-runs "interpolate: 3 in-between frames"
                 (lambda () (plug-in-ddim-interpolate #:image image #:drawables (vector b a) #:model M1
                                                      #:frames 3 #:steps 10)))))
  (if result
      (begin
        (check-equal "interpolate: frames between the two layers, in animation order"
                     '("b" "Frame 3/3 · α 0.75" "Frame 2/3 · α 0.5" "Frame 1/3 · α 0.25" "a")
                     (layer-names image))
        (check-equal "interpolate: the returned frames, first frame first"
                     '("Frame 1/3 · α 0.25" "Frame 2/3 · α 0.5" "Frame 3/3 · α 0.75")
                     (map gimp-item-get-name (vector->list result)))
        (check "interpolate: each frame keeps its latent"
               (and (has-latent? (vector-ref result 0)) (has-latent? (vector-ref result 2))))
        (check "interpolate: the frames differ"
               (> (count-different (vector-ref result 0) (vector-ref result 2) 16 16 one-level) 0))))
  (gimp-image-delete image))

; ---- encode / decode, saved as XCF for reopen.scm ------------------------------------

(define latent-image (gimp-image-new 16 16 RGB))
(define encoded (load-layer latent-image grad16 "encoded"))
(check-runs "encode: a layer's latent"
  (lambda () (plug-in-ddim-encode #:image latent-image #:drawables (vector encoded) #:model M1 #:steps 10)))
(check-equal "encode: adds no layer" '("encoded") (layer-names latent-image))
(check "encode: the latent is kept on the layer" (has-latent? encoded))
(let ((decoded (check-runs "decode: with the stored steps"
                 (lambda () (plug-in-ddim-decode #:image latent-image #:drawables (vector encoded) #:model M1)))))
  (if decoded
      (begin
        (check-equal "decode: a new layer above, named with its settings"
                     '("Decode seed 0 · 10 steps uniform η 0" "encoded") (layer-names latent-image))
        (if recon-layer
            (check-equal "decode: encode + decode gives the reconstruction" 0
                         (count-different decoded recon-layer 16 16 one-level)))
        (gimp-image-remove-layer latent-image decoded))))
(let ((decoded (check-runs "decode: other steps, eta, schedule and seed"
                 (lambda () (plug-in-ddim-decode #:image latent-image #:drawables (vector encoded) #:model M1
                                                 #:steps 20 #:eta 0.5 #:schedule "trailing" #:seed 3)))))
  (if decoded
      (begin
        (check-equal "decode: named with those settings"
                     "Decode seed 3 · 20 steps trailing η 0.5" (gimp-item-get-name decoded))
        (gimp-image-remove-layer latent-image decoded))))
(let ((result (check-runs "generate: a layer for reopen.scm"
                (lambda () (plug-in-ddim-generate #:image latent-image #:model M1 #:steps 10 #:seed 11
                                                  #:output "new-layer")))))
  (if result (gimp-item-set-name (vector-ref (cadr result) 0) "generated")))
(check-runs "save the latents as XCF"
  (lambda () (gimp-file-save RUN-NONINTERACTIVE latent-image (string-append ddim-data "/latents.xcf") -1)))

; ---- errors ------------------------------------------------------------------

(define (one-layer-image)
  (let* ((made (new-image-with-layer 16 16 RGB-IMAGE "plain"))) made))

(let* ((made (one-layer-image)) (image (car made)) (layer (cadr made))
       (second (gimp-layer-new image "second" 16 16 RGB-IMAGE 100 LAYER-MODE-NORMAL)))
  (gimp-image-insert-layer image second 0 0)
  (check-error "error: reconstruct of two layers" "works on exactly one layer"
    (lambda () (plug-in-ddim-reconstruct #:image image #:drawables (vector layer second) #:model M1)))
  (check-error "error: interpolate of one layer" "needs two selected layers"
    (lambda () (plug-in-ddim-interpolate #:image image #:drawables (vector layer) #:model M1)))
  (check-error "error: decode of a layer without a latent" "holds no DDIM latent"
    (lambda () (plug-in-ddim-decode #:image image #:drawables (vector layer) #:model M1)))
  (check-error "error: steps 0" "out of range"
    (lambda () (plug-in-ddim-reconstruct #:image image #:drawables (vector layer) #:model M1 #:steps 0)))
  (check-error "error: strength 0" "out of range"
    (lambda () (plug-in-ddim-vary #:image image #:drawables (vector layer) #:model M1 #:strength 0.0)))
  (check-error "error: a model folder that does not exist" "model"
    (lambda () (plug-in-ddim-reconstruct #:image image #:drawables (vector layer) #:model "/nonexistent/model")))
  (check-error "error: a folder that is not a model" "config.json"
    (lambda () (plug-in-ddim-reconstruct #:image image #:drawables (vector layer) #:model ddim-fixtures)))
  (if ddim-default-installed
      (check-runs "no model given: the installed default model"
        (lambda () (plug-in-ddim-reconstruct #:image image #:drawables (vector layer) #:model "" #:steps 2)))
      (check-error "error: no model given and no default model installed" "default model"
        (lambda () (plug-in-ddim-reconstruct #:image image #:drawables (vector layer) #:model ""))))
  (let ((group (gimp-group-layer-new image "group")))
    (gimp-image-insert-layer image group 0 0)
    (check-error "error: a layer group" "layer group"
      (lambda () (plug-in-ddim-reconstruct #:image image #:drawables (vector group) #:model M1))))
  (gimp-image-delete image))

(check-error "error: new layers without an image" "open image"
  (lambda () (plug-in-ddim-generate #:model M1 #:steps 2 #:output "new-layer")))

(let* ((made (one-layer-image)) (image (car made)) (layer (cadr made)))
  (gimp-drawable-edit-gradient-fill layer GRADIENT-LINEAR 0 #f 1 0 #f 0 0 16 16)
  (gimp-image-convert-indexed image CONVERT-DITHER-NONE CONVERT-PALETTE-GENERATE 16 #f #f "")
  (check-error "error: an indexed layer gets a clear message" "is indexed"
    (lambda () (plug-in-ddim-vary #:image image #:drawables (vector layer) #:model M1)))
  (gimp-image-delete image))

(let* ((image (gimp-image-new 16 16 RGB)) (layer (load-layer image grad16 "from-M4")))
  (check-runs "encode with the RGBA model"
    (lambda () (plug-in-ddim-encode #:image image #:drawables (vector layer) #:model M4 #:steps 4)))
  (check-error "error: a latent from another model is refused" "made with another model"
    (lambda () (plug-in-ddim-decode #:image image #:drawables (vector layer) #:model M1)))
  (gimp-image-delete image))

(gimp-image-delete recon-image)
(gimp-image-delete latent-image)
(finish "procedures")
