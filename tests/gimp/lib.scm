; lib.scm — helpers of the GIMP tests (Script-Fu, v3 dialect).
; Results are printed as TAP lines: "ok N - name" or "not ok N - name # why".

(script-fu-use-v3)

(define ddim-test-count 0)
(define ddim-test-failures 0)

(define (->string value)
  (cond ((string? value) value)
        ((number? value) (number->string value))
        ((symbol? value) (symbol->string value))
        ((eq? value #t) "#t")
        ((eq? value #f) "#f")
        ((null? value) "()")
        ((pair? value)
         (string-append "(" (let loop ((items value) (text ""))
                              (cond ((null? items) text)
                                    ((pair? items)
                                     (loop (cdr items)
                                           (string-append text (if (string=? text "") "" " ")
                                                          (->string (car items)))))
                                    (else (string-append text " . " (->string items)))))
                        ")"))
        ((vector? value) (string-append "#" (->string (vector->list value))))
        (else "?")))

(define (say . parts)
  (for-each (lambda (part) (display (->string part))) parts)
  (newline))

(define (check name ok . why)
  (set! ddim-test-count (+ ddim-test-count 1))
  (if (not ok) (set! ddim-test-failures (+ ddim-test-failures 1)))
  (say (if ok "ok " "not ok ") ddim-test-count " - " name
       (if (and (not ok) (pair? why)) (string-append " # " (apply string-append (map ->string why))) ""))
  ok)

(define (same? a b)
  (if (and (number? a) (number? b)) (= a b) (equal? a b)))

(define (check-equal name expected actual)
  (check name (same? expected actual) "expected " expected ", got " actual))

; Runs thunk; returns its value, or (error MESSAGE ...) when it raised an error
; (a failing PDB call raises one, with GIMP's message).
(define (try thunk)
  (call/cc
    (lambda (k)
      (let ((old *error-hook*))
        (set! *error-hook*
              (lambda args (set! *error-hook* old) (k (cons 'error args))))
        (let ((result (thunk)))
          (set! *error-hook* old)
          result)))))

(define (failed? result) (and (pair? result) (eq? (car result) 'error)))

(define (error-text result)
  (if (failed? result) (apply string-append (map ->string (cdr result))) ""))

(define (string-contains? text pattern)
  (let ((n (string-length text)) (m (string-length pattern)))
    (let loop ((i 0))
      (cond ((> (+ i m) n) #f)
            ((string=? (substring text i (+ i m)) pattern) #t)
            (else (loop (+ i 1)))))))

(define (string-starts? text prefix)
  (and (>= (string-length text) (string-length prefix))
       (string=? (substring text 0 (string-length prefix)) prefix)))

; The call fails, and its message contains pattern.
(define (check-error name pattern thunk)
  (let ((result (try thunk)))
    (check name (and (failed? result) (string-contains? (error-text result) pattern))
           (if (failed? result) (error-text result) (string-append "succeeded: " (->string result))))))

; The call succeeds; returns its value (or #f).
(define (check-runs name thunk)
  (let ((result (try thunk)))
    (check name (not (failed? result)) (error-text result))
    (if (failed? result) #f result)))

(define (layer-names image)
  (map gimp-item-get-name (vector->list (gimp-image-get-layers image))))

(define (has-latent? item)
  (if (member "ddim-latent" (gimp-item-get-parasite-list item)) #t #f))

(define (size-of drawable)
  (list (gimp-drawable-get-width drawable) (gimp-drawable-get-height drawable)))

(define (new-image-with-layer width height type name)
  (let* ((image (gimp-image-new width height (if (= type GRAY-IMAGE) GRAY RGB)))
         (layer (gimp-layer-new image name width height type 100 LAYER-MODE-NORMAL)))
    (gimp-image-insert-layer image layer 0 0)
    (list image layer)))

(define (load-layer image path name)
  (let ((layer (gimp-file-load-layer RUN-NONINTERACTIVE image path)))
    (gimp-image-insert-layer image layer 0 0)
    (gimp-item-set-name layer name)
    layer))

; Pixels of a and b (placed at their offsets in a scratch image of the given
; size) whose largest channel difference is at least threshold (0..1); only
; inside the optional selection (a thunk that selects in the scratch image).
(define (count-different a b width height threshold . select)
  (let* ((scratch (gimp-image-new width height RGB))
         (la (gimp-layer-new-from-drawable a scratch))
         (lb (gimp-layer-new-from-drawable b scratch)))
    (gimp-image-insert-layer scratch la 0 0)
    (gimp-image-insert-layer scratch lb 0 0)
    (gimp-layer-set-offsets la (car (gimp-drawable-get-offsets a)) (cadr (gimp-drawable-get-offsets a)))
    (gimp-layer-set-offsets lb (car (gimp-drawable-get-offsets b)) (cadr (gimp-drawable-get-offsets b)))
    (gimp-layer-set-mode lb LAYER-MODE-DIFFERENCE)
    (let ((merged (gimp-image-merge-visible-layers scratch CLIP-TO-IMAGE)))
      (if (pair? select) ((car select) scratch))
      (let ((count (list-ref (gimp-drawable-histogram merged HISTOGRAM-VALUE threshold 1.0) 4)))
        (gimp-image-delete scratch)
        count))))

(define (mean-alpha drawable)
  (car (gimp-drawable-histogram drawable HISTOGRAM-ALPHA 0.0 1.0)))

(define (finish name)
  (say "# " name ": " ddim-test-count " tests, " ddim-test-failures " failed")
  (say "# " name ": done"))
