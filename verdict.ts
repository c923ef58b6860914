/**
 * How every command-line entry point (predict, smoke, train, the benches, the conformance and
 * fault runs) ends: with exit code 0 only when its main reached a verdict that says so.
 *
 * Node exits as soon as nothing keeps its event loop alive, whatever promises are still pending,
 * and then with exit code 0 unless something set another. A main awaiting a promise that can
 * never settle (a request whose only timer has fired or was `unref`'d, a stream nobody will end)
 * would end the process silently with 0: a gate that passes a broken deploy. So the exit code is
 * 1 from the start, only the settled main sets it, and an exit before that says so.
 */
import { errorMessage } from "./errors";

/**
 * Runs `main` as the process's command: its resolved number (or 0 for nothing) becomes the exit
 * code; a rejection is reported by `onError`, whose number becomes the exit code (by default it
 * prints `error: <message>` and gives 1); an exit before either prints why and keeps 1. With
 * `exitAtVerdict` the process exits as soon as the verdict is in, for mains whose libraries keep
 * threads or handles alive after their work is done (TensorFlow's thread pools).
 */
export function runCommand(
    main: () => Promise<number | void>,
    onError: (err: unknown) => number = reportError,
    { exitAtVerdict = false }: { exitAtVerdict?: boolean } = {},
): void {
    process.exitCode = 1;
    let settled = false;
    process.on("exit", () => {
        if (!settled) {
            process.stderr.write(
                "error: the command ended before reaching its verdict (it was still waiting on work " +
                    "that could never finish, such as a request no timer or socket kept alive)\n",
            );
            process.exitCode = 1;
        }
    });
    main().then(
        (code) => {
            settled = true;
            process.exitCode = code ?? 0;
            if (exitAtVerdict) process.exit();
        },
        (err: unknown) => {
            settled = true;
            process.exitCode = onError(err);
            if (exitAtVerdict) process.exit();
        },
    );
}

/** The default report of a failed main: `error: <message>` on stderr; exit code 1. */
function reportError(err: unknown): number {
    process.stderr.write(`error: ${errorMessage(err)}\n`);
    return 1;
}
