;; Counting primes in a range (the GIMPS-like example of weft's distributed computing).
;;
;; Input: two little-endian u64, lo and hi. Output: one little-endian u64, the number of primes
;; p with lo <= p < hi, by trial division. Follows the weft module ABI (weft-compute's crate
;; docs): no imports, exports `memory`, `weft_alloc` and `weft_run`.
(module
  (memory (export "memory") 1)

  ;; the input goes at 1024; the output is written at 0
  (func (export "weft_alloc") (param $len i32) (result i32)
    (if (result i32) (i32.gt_u (local.get $len) (i32.const 1024))
      (then (i32.const -1))
      (else (i32.const 1024))))

  (func $is_prime (param $n i64) (result i32)
    (local $d i64)
    (if (i64.lt_u (local.get $n) (i64.const 2)) (then (return (i32.const 0))))
    (if (i64.lt_u (local.get $n) (i64.const 4)) (then (return (i32.const 1))))
    (if (i64.eqz (i64.rem_u (local.get $n) (i64.const 2))) (then (return (i32.const 0))))
    (local.set $d (i64.const 3))
    (block $done
      (loop $next
        ;; d > n / d means d * d > n, without overflow
        (br_if $done (i64.gt_u (local.get $d) (i64.div_u (local.get $n) (local.get $d))))
        (if (i64.eqz (i64.rem_u (local.get $n) (local.get $d)))
          (then (return (i32.const 0))))
        (local.set $d (i64.add (local.get $d) (i64.const 2)))
        (br $next)))
    (i32.const 1))

  (func (export "weft_run") (param $p i32) (param $len i32) (result i64)
    (local $n i64) (local $hi i64) (local $count i64)
    ;; anything but 16 bytes is not a range: trap, the same way on every worker
    (if (i32.ne (local.get $len) (i32.const 16)) (then unreachable))
    (local.set $n (i64.load (local.get $p)))
    (local.set $hi (i64.load offset=8 (local.get $p)))
    (block $done
      (loop $next
        (br_if $done (i64.ge_u (local.get $n) (local.get $hi)))
        (local.set $count
          (i64.add (local.get $count) (i64.extend_i32_u (call $is_prime (local.get $n)))))
        (local.set $n (i64.add (local.get $n) (i64.const 1)))
        (br $next)))
    (i64.store (i32.const 0) (local.get $count))
    ;; the span: offset 0 (bits 32-62), length 8 (bits 0-31)
    (i64.const 8)))
