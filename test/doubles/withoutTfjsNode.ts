/**
 * A process in which `@tensorflow/tfjs-node` does not load, as on a machine without its native
 * addon: before anything loads it, every require of the package is made to throw what Node
 * throws for a missing shared library. Then it resolves a tfjs model source (argv[2], exported
 * to argv[3]) with the quality gate, and prints the error the stack would report.
 */
import Module from "module";

const loader = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
const load = loader._load;
loader._load = (request, ...rest) => {
    if (request === "@tensorflow/tfjs-node") {
        throw new Error(
            "libtensorflow.so.2: cannot open shared object file: No such file or directory",
        );
    }
    return load(request, ...rest);
};

async function main(): Promise<void> {
    const { resolveModel } = await import("../../model/sources/resolve");
    const [source, exportDir] = process.argv.slice(2);
    const check = { minAccuracy: 0.5, cacheDir: `${exportDir}-cache`, skipEvaluation: false };
    try {
        await resolveModel({ kind: "path", path: source, check }, exportDir, "m", 1);
        process.stdout.write("resolved\n");
    } catch (err) {
        process.stdout.write(`${(err as Error).message}\n`);
    }
}

void main();
