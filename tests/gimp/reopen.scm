; reopen.scm — a fresh GIMP opens the XCF that procedures.scm saved: the
; latents kept on its layers survived, decode renders them again, and a
; latent from another model is refused.

(load (string-append ddim-tests "/lib.scm"))

(define M1 (string-append ddim-fixtures "/google_f32"))
(define M4 (string-append ddim-fixtures "/diffusers_f16"))
(define one-level (/ 1.5 255))

(define image (gimp-file-load RUN-NONINTERACTIVE (string-append ddim-data "/latents.xcf")))
(define encoded (gimp-image-get-layer-by-name image "encoded"))
(define generated (gimp-image-get-layer-by-name image "generated"))

(check-equal "reopen: the layers are there" '("generated" "encoded") (layer-names image))
(check "reopen: the latents survived the XCF" (and (has-latent? encoded) (has-latent? generated)))

(let ((decoded (check-runs "reopen: decode the encoded layer"
                 (lambda () (plug-in-ddim-decode #:image image #:drawables (vector encoded) #:model M1)))))
  (if decoded
      (let ((cli (load-layer image (string-append ddim-data "/cli-reconstruct.png") "cli")))
        (check-equal "reopen: decoding gives `ddim reconstruct`'s image" 0
                     (count-different decoded cli 16 16 one-level)))))

(let ((decoded (check-runs "reopen: decode the generated layer's x_T"
                 (lambda () (plug-in-ddim-decode #:image image #:drawables (vector generated) #:model M1)))))
  (if decoded
      (check-equal "reopen: decoding x_T with its steps gives the generated image again" 0
                   (count-different decoded generated 16 16 one-level))))

(check-error "reopen: a latent from another model is refused" "made with another model"
  (lambda () (plug-in-ddim-decode #:image image #:drawables (vector encoded) #:model M4)))

(gimp-image-delete image)
(finish "reopen")
