/**
 * How bench/trainProfile.ts files a sampled function under compute, data movement or executor:
 * by its name, not by the template arguments an Eigen or TensorFlow kernel carries.
 */
import * as assert from "assert";
import { partOf } from "../bench/trainProfile";

describe("epoch profile: the part a sample counts for", () => {
    it("files kernels, gathers and casts, and the runtime each where they belong", () => {
        const cases: [string, string, string][] = [
            [
                "libtensorflow_cc.so.2",
                "tensorflow::functor::ApplyAdamNonCuda<Eigen::ThreadPoolDevice, float>::operator()",
                "compute",
            ],
            ["[JIT]", "JIT-compiled code (oneDNN's matrix-product kernels)", "compute"],
            ["libtensorflow_cc.so.2", "tsl::random::PhiloxRandom::operator()", "compute"],
            [
                "libtensorflow_cc.so.2",
                "Eigen::internal::TensorExecutor<Eigen::TensorAssignOp<float>, Eigen::ThreadPoolDevice>::run",
                "compute",
            ],
            [
                "libtensorflow_cc.so.2",
                "_ZZN10tensorflow7functor12HandleCopiesIhiiTnT1_Lin1EEES2_PNS_15OpKernelContext",
                "dataMovement",
            ],
            [
                "libtensorflow_cc.so.2",
                "Eigen::internal::EvalRange<Eigen::TensorEvaluator<Eigen::TensorAssignOp<Eigen::TensorConversionOp<float, unsigned char>>>>::run",
                "dataMovement",
            ],
            ["libc.so.6", "__memmove_avx512_unaligned_erms", "dataMovement"],
            ["node", "v8::internal::Heap::AllocateRaw", "dataMovement"],
            [
                "libtensorflow_framework.so.2",
                "tensorflow::(anonymous namespace)::ExecutorState<tensorflow::PropagatorState>::Process",
                "executor",
            ],
            ["libtensorflow_cc.so.2", "tensorflow::OpKernelContext::allocate_output", "executor"],
            ["libc.so.6", "_int_malloc", "executor"],
            ["[kernel.kallsyms]", "finish_task_switch.isra.0", "executor"],
        ];
        for (const [dso, symbol, part] of cases) {
            assert.strictEqual(partOf(dso, symbol), part, `${dso}: ${symbol}`);
        }
    });
});
