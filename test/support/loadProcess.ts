/**
 * The open-loop generator (./openLoop.ts) in a process of its own, so that nothing the caller
 * does (a synchronous API call, a JSON parse of a large answer) delays a request that is due.
 * The caller starts it with its options; it sends for `seconds` at most, and a line on its stdin
 * (or its stdin closing, when the caller is gone) makes it finish and print its result as one
 * JSON line.
 *
 *   startLoadProcess(options) → { stop(): Promise<OpenLoopResult> }
 *   runLoadProcess(options)   → Promise<OpenLoopResult>, its whole bounded run
 */
import { spawn } from "child_process";
import * as path from "path";
import * as readline from "readline";
import { OpenLoopOptions, OpenLoopResult, startOpenLoop } from "./openLoop";

const TSX = path.resolve(__dirname, "..", "..", "node_modules", ".bin", "tsx");

/** A generator running in its own process. */
export interface LoadProcess {
    /** Stops it (it waits for the requests in flight) and gives what it saw. */
    stop(): Promise<OpenLoopResult>;
}

/** Starts the generator in a child process; resolves once it sends. */
export async function startLoadProcess(options: OpenLoopOptions): Promise<LoadProcess> {
    const child = spawn(TSX, [__filename, JSON.stringify(options)], {
        stdio: ["pipe", "pipe", "inherit"],
    });
    const lines = readline.createInterface({ input: child.stdout });
    const next = (): Promise<string> =>
        new Promise((resolve, reject) => {
            const onExit = (code: number | null) =>
                reject(new Error(`the load process exited (${code}) before it answered`));
            child.once("exit", onExit);
            lines.once("line", (line) => {
                child.off("exit", onExit);
                resolve(line);
            });
        });
    const started = await next();
    if (started !== "sending") throw new Error(`the load process said ${started}`);
    return {
        stop: async () => {
            const answer = next();
            child.stdin.end("stop\n");
            return JSON.parse(await answer) as OpenLoopResult;
        },
    };
}

/** Runs the generator for its `seconds` in a child process, then stops it; what it saw. */
export async function runLoadProcess(options: OpenLoopOptions): Promise<OpenLoopResult> {
    const load = await startLoadProcess(options);
    await new Promise((r) => setTimeout(r, options.seconds * 1000));
    return load.stop();
}

/** In the child: send until stdin says stop or closes (the loop itself ends after `seconds`). */
async function main(): Promise<void> {
    const options = JSON.parse(process.argv[2]) as OpenLoopOptions;
    const loop = startOpenLoop(options);
    console.log("sending");
    await new Promise<void>((resolve) => {
        process.stdin.once("data", () => resolve());
        process.stdin.once("end", () => resolve());
    });
    console.log(JSON.stringify(await loop.stop()));
}

if (require.main === module) {
    main().then(
        () => process.exit(0),
        (err) => {
            console.error(err);
            process.exit(1);
        },
    );
}
