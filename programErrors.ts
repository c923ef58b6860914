/**
 * The Pulumi program's errors: a setting that is not what it must be, thrown where it is checked,
 * and how failures reach the engine: our own errors as their message alone, and every error's
 * stack in a form Node 20.20 can print.
 */
import * as pulumi from "@pulumi/pulumi";

/**
 * A setting whose value is not what it must be: its key (a component's field such as
 * `canary.weight`, or a config key), the value and what was expected, in one wording. A
 * ResourceError: the engine names the resource whose check failed, when there is one, and prints
 * the message alone, since it says all there is.
 */
export class SettingError extends pulumi.ResourceError {
    constructor(
        readonly key: string,
        readonly value: unknown,
        readonly expected: string,
        opts: {
            /** The resource whose check failed. */
            readonly resource?: pulumi.Resource;
            /** What the key is, such as `config`, put before it in the message. */
            readonly keyKind?: string;
        } = {},
    ) {
        const named = `${opts.keyKind === undefined ? "" : `${opts.keyKind} `}\`${key}\``;
        super(`${named} is ${JSON.stringify(value)}; expected ${expected}`, opts.resource, true);
        this.name = "SettingError";
    }
}

/**
 * Our own errors (plain Errors: bad config, the quality gate, a full cache) become RunErrors
 * without a stack, which Pulumi prints as the message alone. Other classes (a TypeError, a bug)
 * keep their stack.
 */
export function reportable(err: unknown): unknown {
    if (!(err instanceof Error) || err.constructor !== Error) return err;
    const reported = new pulumi.RunError(err.message);
    reported.stack = undefined;
    return reported;
}

/**
 * Pulumi's source maps name its sources `node_modules/@pulumi/<file>.ts`, a scope with no package
 * directory ("../resource.ts" from @pulumi/pulumi/resource.js). Node 20.20's `util.inspect`, which
 * Pulumi's run.js calls with colours on every error it reports, loops on such a frame (its
 * markNodeModules finds no end to the package name and starts over), growing a string without
 * end. One program of test:faults whose update failed was found still spinning at 100% CPU 40
 * minutes after its CLI had exited, and the full-cache error took 55 s of garbage collection to
 * print. This gives such frames the package directory they lack.
 */
export function repairStack(err: unknown): void {
    if (err instanceof Error && typeof err.stack === "string") {
        err.stack = err.stack.replace(PULUMI_FRAME_WITHOUT_PACKAGE, "$1pulumi$2");
    }
}

/** `node_modules/@pulumi/` followed by a file name and a line number, not a directory. */
const PULUMI_FRAME_WITHOUT_PACKAGE = /(node_modules([/\\])@pulumi[/\\])(?=[^/\\\s()]+:\d+)/g;

/**
 * Repairs the stack of anything thrown and not caught before Pulumi's own handlers, installed
 * when the program starts, format it.
 */
export function repairStacksBeforePulumiReports(): void {
    process.prependListener("uncaughtException", repairStack);
    process.prependListener("unhandledRejection", repairStack);
}
