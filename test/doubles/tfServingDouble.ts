/**
 * Starts and stops the TF Serving stand-in (`serving-standin/`, see its README) as a test double:
 * TF Serving's REST contract in front of real TensorFlow executing an exported SavedModel. The
 * same server is `tensorflow_model_server` in the stand-in base image
 * (`scripts/build-serving-standin.sh`); here it listens on a free local port and answers while the
 * model loads, so tests see the START and LOADING states. With `grpc` it also serves TF Serving's
 * gRPC API (`serving-standin/standin/grpc_servicer.py`) on the same loaded model.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { MONITORING_CONFIG } from "../../components/servingImage";

/** The server, shared with the stand-in base image: Python runs the directory's `__main__.py`. */
const STANDIN_SERVER = path.join(__dirname, "..", "..", "serving-standin");

/** How to start the double. */
export interface DoubleOptions {
    /** Python with TensorFlow, e.g. from `venvPython()`. */
    readonly python: string;
    /** The model directory holding numeric version directories (`<base>/<name>`). */
    readonly modelBasePath: string;
    /** Served model name. Defaults to `mymodel`. */
    readonly modelName?: string;
    /** Seconds to stay in START before loading. Defaults to 0. */
    readonly loadDelaySeconds?: number;
    /** Labels to versions. Defaults to none. */
    readonly labels?: Readonly<Record<string, number>>;
    /** Milliseconds to wait for the port. Defaults to 60,000. */
    readonly startTimeoutMs?: number;
    /** Serve the gRPC API too (needs tensorflow-serving-api in the venv). Defaults to false. */
    readonly grpc?: boolean;
    /**
     * Serve the Prometheus page with the monitoring config the serving image ships
     * (`enableMonitoring`). Defaults to false.
     */
    readonly monitoring?: boolean;
}

/** The monitoring config file the image's `--monitoring_config_file` names, written once. */
function monitoringConfigFile(): string {
    const file = path.join(os.tmpdir(), `tfk8s-standin-monitoring-${process.pid}.config`);
    fs.writeFileSync(file, MONITORING_CONFIG);
    return file;
}

/** A running double; `url` is its base URL and `grpcTarget` its gRPC address, when served. */
export class TfServingDouble {
    private stderr = "";

    private constructor(
        private readonly child: ChildProcess,
        /** `http://127.0.0.1:<port>`. */
        readonly url: string,
        /** `127.0.0.1:<port>` of the gRPC API, when asked for. */
        readonly grpcTarget: string | undefined,
    ) {
        child.stderr?.on("data", (chunk: Buffer) => {
            this.stderr += chunk.toString("utf8");
        });
    }

    /** Everything the double wrote to stderr so far (load errors, TensorFlow's logs). */
    get log(): string {
        return this.stderr;
    }

    /** Spawns the double and resolves once its port is open (TensorFlow may still be loading). */
    static start(options: DoubleOptions): Promise<TfServingDouble> {
        // TF Serving's flags take `--name=value` only.
        const args = [
            STANDIN_SERVER,
            `--model_name=${options.modelName ?? "mymodel"}`,
            `--model_base_path=${options.modelBasePath}`,
            "--standin_listen=127.0.0.1:0",
            "--standin_serve_while_loading",
            ...(options.grpc === true ? ["--standin_grpc_listen=127.0.0.1:0"] : []),
            ...(options.monitoring === true
                ? [`--monitoring_config_file=${monitoringConfigFile()}`]
                : []),
            `--standin_load_delay_seconds=${options.loadDelaySeconds ?? 0}`,
            ...Object.entries(options.labels ?? {}).map(
                ([label, v]) => `--standin_label=${label}=${v}`,
            ),
        ];
        const child = spawn(options.python, args, {
            stdio: ["ignore", "pipe", "pipe"],
            env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: "2", PYTHONDONTWRITEBYTECODE: "1" },
        });
        return new Promise((resolve, reject) => {
            let out = "";
            let err = "";
            const timer = setTimeout(() => {
                child.kill();
                reject(
                    new Error(
                        `the stand-in (serving-standin) printed no port within ${options.startTimeoutMs ?? 60_000} ms\n${out}${err}`,
                    ),
                );
            }, options.startTimeoutMs ?? 60_000);
            const onErr = (chunk: Buffer) => {
                err += chunk.toString("utf8");
            };
            child.stderr?.on("data", onErr);
            child.once("exit", (code) => {
                clearTimeout(timer);
                reject(
                    new Error(
                        `the stand-in (serving-standin) exited with ${code} before opening its port\n${out}${err}`,
                    ),
                );
            });
            child.stdout?.on("data", (chunk: Buffer) => {
                out += chunk.toString("utf8");
                const line = out.split("\n").find((l) => l.startsWith("{"));
                if (line === undefined) return;
                clearTimeout(timer);
                child.removeAllListeners("exit");
                child.stderr?.off("data", onErr);
                const ports = JSON.parse(line) as { port: number; grpc_port?: number };
                const double = new TfServingDouble(
                    child,
                    `http://127.0.0.1:${ports.port}`,
                    ports.grpc_port === undefined ? undefined : `127.0.0.1:${ports.grpc_port}`,
                );
                double.stderr = err;
                resolve(double);
            });
        });
    }

    /** Stops the double (SIGTERM to its own pid) and waits for it to exit. */
    async stop(): Promise<void> {
        if (this.child.exitCode !== null || this.child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
        this.child.kill("SIGTERM");
        await exited;
    }
}
