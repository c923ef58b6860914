/**
 * The daemons and forwarders of the one-node local cluster (scripts/local-cluster.sh), as their
 * pid files and /proc show them: for checks that each one runs exactly once, and that none
 * exited or was restarted while a suite ran.
 */
import * as fs from "fs";
import * as path from "path";

/** Every daemon and forwarder `local-cluster.sh up` starts, by the name of its pid file. */
export const CLUSTER_DAEMONS = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "containerd",
    "kubelet",
    "kube-proxy",
    "metrics-server",
    "forward-apiserver",
    "forward-registry",
    "forward-registry-in-node",
    "forward-nodeport-30111",
] as const;

/** The pid in each daemon's pid file (the node's under `nodeState`, the control plane's beside it). */
export function clusterDaemonPids(nodeState: string): Map<string, number> {
    const pids = new Map<string, number>();
    for (const name of CLUSTER_DAEMONS) {
        for (const dir of [nodeState, path.dirname(nodeState)]) {
            const file = path.join(dir, `${name}.pid`);
            if (fs.existsSync(file)) pids.set(name, Number(fs.readFileSync(file, "utf8").trim()));
        }
    }
    return pids;
}

/** Command line and parent of a live process, or undefined when it is gone. */
function processOf(pid: number): { command: string; parent: number } | undefined {
    try {
        const command = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
        // The parent is the fourth field of stat, after the command name in parentheses.
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
        return { command, parent };
    } catch {
        return undefined;
    }
}

/**
 * What is wrong with the cluster's processes: a daemon without a pid file or whose process is
 * gone, or a daemon whose command line runs in more than one process. A copy whose parent runs
 * the same command line is not counted: socat serves each connection from a fork of itself.
 */
export function daemonProblems(nodeState: string): string[] {
    const pids = clusterDaemonPids(nodeState);
    const all = fs
        .readdirSync("/proc")
        .filter((d) => /^\d+$/.test(d))
        .map(Number)
        .map((pid) => ({ pid, info: processOf(pid) }));
    const problems: string[] = [];
    for (const name of CLUSTER_DAEMONS) {
        const pid = pids.get(name);
        const own = pid === undefined ? undefined : processOf(pid);
        if (pid === undefined || own === undefined) {
            problems.push(`${name} is not running (pid file: ${pid ?? "none"})`);
            continue;
        }
        const copies = all.filter(
            (p) =>
                p.info?.command === own.command &&
                processOf(p.info.parent)?.command !== own.command,
        );
        if (copies.length !== 1) {
            problems.push(
                `${name} runs ${copies.length} times (pids ${copies.map((p) => p.pid).join(", ")}): ` +
                    own.command.split("\0").join(" "),
            );
        }
    }
    return problems;
}
