; malformed.scm — malformed model folders (tests/malformed/, see
; tools/make_malformed.py) given to the plug-in: each call fails with a
; calling error (Script-Fu: "failed on invalid input arguments") whose
; message names the file and the problem, and the image is unchanged.
; Globals from run-in-root.sh: ddim-tests, ddim-fixtures.

(load (string-append ddim-tests "/lib.scm"))

(define malformed (string-append ddim-fixtures "/../malformed/"))

(define (check-calling-error name patterns thunk)
  (let* ((result (try thunk)) (text (error-text result)))
    (check name
           (and (failed? result) (string-contains? text "invalid input arguments")
                (let loop ((left patterns))
                  (or (null? left) (and (string-contains? text (car left)) (loop (cdr left))))))
           (if (failed? result) text (string-append "succeeded: " (->string result))))))

(let* ((made (new-image-with-layer 8 8 GRAY-IMAGE "plain"))
       (image (car made)) (layer (cadr made)))
  (for-each
    (lambda (case)
      (check-calling-error (string-append "malformed: " (car case)) (cdr case)
        (lambda () (plug-in-ddim-reconstruct #:image image #:drawables (vector layer)
                                             #:model (string-append malformed (car case))
                                             #:steps 2))))
    '(("weights-truncated-data" "diffusion_pytorch_model.safetensors" "file truncated")
      ("weights-header-length-100mb" "diffusion_pytorch_model.safetensors" "the limit is")
      ("weights-offsets-overlap" "diffusion_pytorch_model.safetensors" "overlaps")
      ("weights-nan" "diffusion_pytorch_model.safetensors" "NaN")
      ("config-deep" "config.json" "nested")
      ("config-layers-1000" "config.json" "layers_per_block")
      ("scheduler-beta-end-below-start" "scheduler_config.json" "beta_end")
      ("directory-empty" "directory-empty" "not a model folder")))
  (check-equal "malformed: the image still has its one layer" '("plain") (layer-names image))
  (gimp-image-delete image))

(finish "malformed")
