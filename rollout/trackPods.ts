/**
 * The pods behind each track's Service, as the analysis reaches them: the Service's selector,
 * the pods it selects that are Ready and not being deleted (the ones its endpoints route to),
 * and a port-forward to each, so probes and scrapes reach every pod of a track, not just one.
 */
import { execFile } from "child_process";
import type { Track } from "../components/modelTrack";
import { PortForward, forwardPort } from "./portForward";
import { TrackUrls } from "./window";

/** The parts of a pod the choice reads. */
interface PodItem {
    readonly metadata: { readonly name: string; readonly deletionTimestamp?: string };
    readonly status?: { readonly conditions?: readonly { type: string; status: string }[] };
}

/** The names of the pods of a `kubectl get pods -o json` list that are Ready and staying. */
export function readyPodNames(list: { readonly items: readonly PodItem[] }): string[] {
    return list.items
        .filter(
            (p) =>
                p.metadata.deletionTimestamp === undefined &&
                (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
        )
        .map((p) => p.metadata.name)
        .sort();
}

/** A Service's selector as kubectl's `-l` takes it; throws for a Service that selects no pods. */
export function labelSelector(
    service: string,
    selector: Readonly<Record<string, string>> | undefined,
): string {
    const pairs = Object.entries(selector ?? {});
    if (pairs.length === 0) {
        throw new Error(`Service ${service} has no selector, so no pods of its own to judge`);
    }
    return pairs.map(([k, v]) => `${k}=${v}`).join(",");
}

function kubectlJson<T>(args: readonly string[], context: string | undefined): Promise<T> {
    const all = [...(context === undefined ? [] : ["--context", context]), ...args, "-o", "json"];
    return new Promise((resolve, reject) =>
        execFile("kubectl", all, { maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
            err === null
                ? resolve(JSON.parse(stdout))
                : reject(new Error(`kubectl ${all.join(" ")}: ${stderr.trim() || err.message}`)),
        ),
    );
}

/** The Ready pods behind `service` in `namespace`; throws when there are none. */
export async function readyPodsBehind(
    namespace: string,
    service: string,
    context: string | undefined,
): Promise<string[]> {
    const svc = await kubectlJson<{ spec?: { selector?: Record<string, string> } }>(
        ["--namespace", namespace, "get", "service", service],
        context,
    );
    const selector = labelSelector(service, svc.spec?.selector);
    const pods = await kubectlJson<{ items: PodItem[] }>(
        ["--namespace", namespace, "get", "pods", "-l", selector],
        context,
    );
    const names = readyPodNames(pods);
    if (names.length === 0) throw new Error(`no Ready pod behind Service ${service} (${selector})`);
    return names;
}

/** Every track's pods, forwarded: their URLs in the order of `pods`, and how to end it all. */
export interface ReachedPods {
    readonly pods: Readonly<Record<Track, readonly string[]>>;
    readonly urls: TrackUrls;
    close(): void;
}

/** Forwards a port to each Ready pod behind each track's Service. */
export async function reachTrackPods(
    namespace: string,
    services: Readonly<Record<Track, string>>,
    context: string | undefined,
): Promise<ReachedPods> {
    const forwards: PortForward[] = [];
    const close = () => forwards.forEach((f) => f.close());
    try {
        const track = async (t: Track) => {
            const names = await readyPodsBehind(namespace, services[t], context);
            const settled = await Promise.allSettled(
                names.map((name) => forwardPort(namespace, `pod/${name}`, context)),
            );
            // Every forward that started is kept for `close`, even when another failed.
            for (const s of settled) if (s.status === "fulfilled") forwards.push(s.value);
            const failed = settled.find((s) => s.status === "rejected");
            if (failed !== undefined) throw failed.reason;
            return {
                names,
                urls: settled.map((s) => (s as PromiseFulfilledResult<PortForward>).value.url),
            };
        };
        // Both settle before a failure is thrown, so `close` ends every forward either started.
        const settled = await Promise.allSettled([track("stable"), track("canary")]);
        const failed = settled.find((s) => s.status === "rejected");
        if (failed !== undefined) throw failed.reason;
        const [stable, canary] = settled.map(
            (s) => (s as PromiseFulfilledResult<{ names: string[]; urls: string[] }>).value,
        );
        return {
            pods: { stable: stable.names, canary: canary.names },
            urls: { stable: stable.urls, canary: canary.urls },
            close,
        };
    } catch (err) {
        close();
        throw err;
    }
}
