; faults.scm — kill.scm, then malformed.scm, in one GIMP session (a GIMP
; start costs most of a minute on a busy machine).  kill.scm must come first:
; run-in-root.sh's killer kills the first two runs of the plug-in.
(load (string-append ddim-tests "/kill.scm"))
(load (string-append ddim-tests "/malformed.scm"))
