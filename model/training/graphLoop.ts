/**
 * A counted loop in a TensorFlow graph, in TF1 control flow (Enter, Merge, Switch, LoopCond,
 * NextIteration, Exit): the body runs for i = 0 … count - 1 inside one session run, so a whole
 * epoch of training steps costs one call from JavaScript.
 *
 * Iterations run one at a time (`parallel_iterations` 1): TensorFlow starts iteration i + 1 only
 * once every op of iteration i has run, so a step reads the variables the step before updated.
 * Everything the body takes from outside enters the loop's frame once per run (`Enter` with
 * `is_constant`, `RefEnter` for variables), rather than as a `Const` that would run every
 * iteration.
 */
import { GraphBuilder, T_INT32, attr } from "../savedmodel/graphBuilder";
import { DataType } from "../savedmodel/proto/tensorflow";

const INT32 = DataType.DT_INT32;

/** What the body of a counted loop builds with. */
export interface LoopFrame {
    /** The iteration number i, an int32 scalar inside the frame. */
    readonly index: string;
    /** A tensor from outside the loop, entered into the frame once (cached per tensor). */
    invariant(tensor: string, dtype: number): string;
    /** A variable from outside the loop, as a reference inside the frame (cached per variable). */
    variable(node: string, dtype: number): string;
}

/**
 * Emits `for (i = 0; i < count; i++) body(i)` under `scope`, where `count` is an int32 scalar
 * outside the loop and `body` returns the nodes that finish an iteration. The loop and whatever
 * enters its frame wait for `after` (control inputs). Returns the loop's `Exit`, which outputs once the last iteration ran.
 */
export function countedLoop(
    g: GraphBuilder,
    scope: string,
    count: string,
    body: (frame: LoopFrame) => readonly string[],
    after: readonly string[] = [],
): string {
    const enterAttrs = (dtype: number, constant: boolean) => ({
        T: attr.type(dtype),
        frame_name: attr.str(scope),
        is_constant: attr.bool(constant),
        parallel_iterations: attr.int(1),
    });
    // Everything entering the frame waits for `after`: a variable must be set before it enters.
    const waits = after.map((a) => `^${a}`);
    const entered = new Map<string, string>();
    const enter = (op: "Enter" | "RefEnter", tensor: string, dtype: number) => {
        const known = entered.get(tensor);
        if (known !== undefined) return known;
        const node = g.add(
            `${scope}/enter/${tensor.replace(/:/g, "_")}`,
            op,
            [tensor, ...waits],
            enterAttrs(dtype, true),
        );
        entered.set(tensor, node);
        return node;
    };
    const zero = g.constInt32(`${scope}/zero`, [], [0]);
    const start = g.add(`${scope}/start`, "Enter", [zero, ...waits], enterAttrs(INT32, false));
    const next = `${scope}/next`;
    const merge = g.add(`${scope}/merge`, "Merge", [start, next], { T: T_INT32, N: attr.int(2) });
    const less = g.add(`${scope}/less`, "Less", [merge, enter("Enter", count, INT32)], {
        T: T_INT32,
    });
    const cond = g.add(`${scope}/cond`, "LoopCond", [less], {});
    const branch = g.add(`${scope}/switch`, "Switch", [merge, cond], { T: T_INT32 });
    // Switch's output 0 carries the value when the condition is false (the loop ends), 1 when true.
    const exit = g.add(`${scope}/exit`, "Exit", [branch], { T: T_INT32 });
    const index = g.add(`${scope}/index`, "Identity", [`${branch}:1`], { T: T_INT32 });
    const done = body({
        index,
        invariant: (tensor, dtype) => enter("Enter", tensor, dtype),
        variable: (node, dtype) => enter("RefEnter", node, dtype),
    });
    const one = enter("Enter", g.constInt32(`${scope}/one`, [], [1]), INT32);
    const incremented = g.add(
        `${scope}/increment`,
        "Add",
        [index, one, ...done.map((d) => `^${d}`)],
        { T: T_INT32 },
    );
    g.add(next, "NextIteration", [incremented], { T: T_INT32 });
    return exit;
}
