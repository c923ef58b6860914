/**
 * The tfk8s guardrails, one factory per policy so a pack (or a test) picks each enforcement level.
 */
import * as k8s from "@pulumi/kubernetes";
import type { Unwrap } from "@pulumi/pulumi";
import {
    EnforcementLevel,
    PolicyResource,
    ResourceValidationPolicy,
    StackValidationPolicy,
    validateResourceOfType,
} from "@pulumi/policy";
import { modelEvaluatedInProduction } from "./modelEvaluated";
import { podSecurityInProduction } from "./podSecurity";

// Policies see resolved values, never Outputs, so each input type is unwrapped. Every field stays
// optional: a preview may leave out what is not known yet, and the checks must not assume it.
type Deployment = Unwrap<k8s.types.input.apps.v1.Deployment>;
type DeploymentSpec = Unwrap<k8s.types.input.apps.v1.DeploymentSpec>;
type Container = Unwrap<k8s.types.input.core.v1.Container>;
type PodDisruptionBudget = Unwrap<k8s.types.input.policy.v1.PodDisruptionBudget>;
type HorizontalPodAutoscaler = Unwrap<k8s.types.input.autoscaling.v2.HorizontalPodAutoscaler>;
type NetworkPolicy = Unwrap<k8s.types.input.networking.v1.NetworkPolicy>;

/** A stack resource whose `props` (a `Record<string, any>` in the policy SDK) have shape `P`. */
export type ResourceWith<P> = Omit<PolicyResource, "props"> & { readonly props: P };

/** Narrows a stack resource to a Deployment, by type token as the policy engine tells it. */
export function isDeployment(r: PolicyResource): r is ResourceWith<Deployment> {
    return r.isType(k8s.apps.v1.Deployment);
}

/** Narrows a stack resource to a HorizontalPodAutoscaler, by type token. */
function isAutoscaler(r: PolicyResource): r is ResourceWith<HorizontalPodAutoscaler> {
    return r.isType(k8s.autoscaling.v2.HorizontalPodAutoscaler);
}

/** Narrows a stack resource to a PodDisruptionBudget, by type token. */
function isPodDisruptionBudget(r: PolicyResource): r is ResourceWith<PodDisruptionBudget> {
    return r.isType(k8s.policy.v1.PodDisruptionBudget);
}

/** Narrows a stack resource to a NetworkPolicy, by type token. */
function isNetworkPolicy(r: PolicyResource): r is ResourceWith<NetworkPolicy> {
    return r.isType(k8s.networking.v1.NetworkPolicy);
}

type LabelSelector = Unwrap<k8s.types.input.meta.v1.LabelSelector>;

/**
 * Whether `selector` selects pods labelled `podLabels` (an empty selector selects all). A
 * selector with matchExpressions is not evaluated and counts as not selecting them.
 */
function selects(selector: LabelSelector | undefined, podLabels: Record<string, string>): boolean {
    if ((selector?.matchExpressions ?? []).length > 0) return false;
    return Object.entries(selector?.matchLabels ?? {}).every(([k, v]) => podLabels[k] === v);
}

/** Containers of a Deployment's pod template; none when the template is not (yet) there. */
function containersOf(spec: DeploymentSpec | undefined): Container[] {
    return spec?.template?.spec?.containers ?? [];
}

/** The problems of one container (its Deployment given for pod-level settings); none when fine. */
type ContainerCheck = (c: Container, deployment: Deployment) => readonly string[];

/**
 * The factory of a policy that validates each container of each Deployment: `check` returns the
 * problems of one container, each reported as a violation.
 */
function containerPolicy(
    name: string,
    description: string,
    check: ContainerCheck,
): (enforcementLevel: EnforcementLevel) => ResourceValidationPolicy {
    return (enforcementLevel) => ({
        name,
        description,
        enforcementLevel,
        validateResource: validateResourceOfType(
            k8s.apps.v1.Deployment,
            (deployment, _args, report) => {
                for (const c of containersOf(deployment.spec)) {
                    check(c, deployment).forEach((problem) => report(problem));
                }
            },
        ),
    });
}

/** `repo@sha256:<64 hex>`: an immutable reference. */
const DIGEST_REF = /@sha256:[0-9a-f]{64}$/;
/** `repo:v<version>-<12 hex>`: the content-addressed tag tfk8s builds for unpushed local images. */
const CONTENT_TAG = /:v\d+-[0-9a-f]{12}$/;

/** Deployments reference images by digest; a tag can move under a running Deployment. */
export function imageByDigest(enforcementLevel: EnforcementLevel): ResourceValidationPolicy {
    return {
        name: "image-by-digest",
        description:
            "Containers reference their image by digest (repo@sha256:…), not by a mutable tag.",
        enforcementLevel,
        configSchema: {
            properties: {
                allowContentAddressedTags: {
                    type: "boolean",
                    default: false,
                    description:
                        "Accept tfk8s's content-addressed tags (local clusters, where nothing is pushed).",
                },
            },
        },
        validateResource: validateResourceOfType(
            k8s.apps.v1.Deployment,
            (deployment, args, report) => {
                const { allowContentAddressedTags } = args.getConfig<{
                    allowContentAddressedTags: boolean;
                }>();
                for (const c of containersOf(deployment.spec)) {
                    const image = c.image ?? "";
                    if (
                        !DIGEST_REF.test(image) &&
                        !(allowContentAddressedTags && CONTENT_TAG.test(image))
                    ) {
                        report(
                            `container "${c.name}" uses image "${image}"; reference it by digest (repo@sha256:…)`,
                        );
                    }
                }
            },
        ),
    };
}

/** Every container sets CPU and memory requests and limits. */
export const resourcesSet = containerPolicy(
    "resources-set",
    "Containers set CPU and memory requests and limits.",
    (c) => {
        const missing = (["requests", "limits"] as const).flatMap((kind) =>
            ["cpu", "memory"]
                .filter((res) => c.resources?.[kind]?.[res] === undefined)
                .map((res) => `${kind}.${res}`),
        );
        return missing.length > 0
            ? [`container "${c.name}" does not set resources ${missing.join(", ")}`]
            : [];
    },
);

/** Every container has a readiness probe, so traffic waits for the model. */
export const readinessProbe = containerPolicy(
    "readiness-probe",
    "Containers have a readiness probe.",
    (c) => (c.readinessProbe === undefined ? [`container "${c.name}" has no readinessProbe`] : []),
);

/** Pods run as non-root and cannot gain privileges. */
export const nonRoot = containerPolicy(
    "non-root",
    "Containers run as non-root (pod or container runAsNonRoot) with allowPrivilegeEscalation false.",
    (c, deployment) => {
        const pod = deployment.spec?.template?.spec;
        const problems: string[] = [];
        if ((c.securityContext?.runAsNonRoot ?? pod?.securityContext?.runAsNonRoot) !== true) {
            problems.push(`container "${c.name}" does not set runAsNonRoot: true`);
        }
        if (c.securityContext?.allowPrivilegeEscalation !== false) {
            problems.push(`container "${c.name}" does not set allowPrivilegeEscalation: false`);
        }
        return problems;
    },
);

/** Config of the production-aware policies, set per stack with `--policy-pack-config`. */
export interface ProductionConfig {
    readonly production: boolean;
    readonly allowPublicService: boolean;
}

export const productionSchema = {
    properties: {
        production: {
            type: "boolean" as const,
            default: false,
            description: "The stack is production.",
        },
        allowPublicService: {
            type: "boolean" as const,
            default: false,
            description: "Production may expose NodePort or LoadBalancer Services.",
        },
    },
};

/** Production stacks keep the model inside the cluster unless explicitly allowed. */
export function noPublicServiceInProduction(
    enforcementLevel: EnforcementLevel,
): ResourceValidationPolicy {
    return {
        name: "no-public-service-in-production",
        description: "Production stacks use ClusterIP Services unless allowPublicService is set.",
        enforcementLevel,
        configSchema: productionSchema,
        validateResource: validateResourceOfType(k8s.core.v1.Service, (service, args, report) => {
            const { production, allowPublicService } = args.getConfig<ProductionConfig>();
            const type = service.spec?.type ?? "ClusterIP";
            if (
                production &&
                !allowPublicService &&
                (type === "NodePort" || type === "LoadBalancer")
            ) {
                report(
                    `Service type ${type} exposes the model outside the cluster in production; use ClusterIP or set allowPublicService`,
                );
            }
        }),
    };
}

/**
 * The pod label naming a ModelServing track (`TRACK_LABEL` in components/modelTrack.ts; the
 * policy tests keep the two equal, and the pack depends on no component).
 */
export const TRACK_LABEL = "tfk8s.dev/track";

/**
 * Production runs at least two replicas, protected by a PodDisruptionBudget. A canary track
 * needs one replica, so it takes its share of traffic, and a budget of its own as well.
 */
export function productionAvailability(enforcementLevel: EnforcementLevel): StackValidationPolicy {
    return {
        name: "production-availability",
        description:
            "Production Deployments run >= 2 replicas (a canary >= 1) and a PodDisruptionBudget covers them.",
        enforcementLevel,
        configSchema: productionSchema,
        validateStack: (args, report) => {
            if (!args.getConfig<ProductionConfig>().production) {
                return;
            }
            const deployments = args.resources.filter(isDeployment);
            const budgets = args.resources.filter(isPodDisruptionBudget);
            const autoscalers = args.resources.filter(isAutoscaler);
            for (const d of deployments) {
                // An autoscaler that targets the Deployment owns its replica count.
                const autoscaler = autoscalers.find(
                    (h) =>
                        h.props.spec?.scaleTargetRef?.kind === "Deployment" &&
                        h.props.spec.scaleTargetRef.name === d.props.metadata?.name,
                );
                const replicas = autoscaler?.props.spec?.minReplicas ?? d.props.spec?.replicas ?? 1;
                const podLabels = d.props.spec?.template?.metadata?.labels ?? {};
                const canary = podLabels[TRACK_LABEL] === "canary";
                const needed = canary ? 1 : 2;
                if (replicas < needed) {
                    report(
                        `Deployment ${d.name} runs ${replicas} replica(s); production needs at least ${needed}${canary ? " for a canary" : ""}`,
                        d.urn,
                    );
                }
                const covered = budgets.some((b) => {
                    const selector = b.props.spec?.selector;
                    return (
                        Object.keys(selector?.matchLabels ?? {}).length > 0 &&
                        selects(selector, podLabels)
                    );
                });
                if (!covered) {
                    report(
                        `Deployment ${d.name} has no PodDisruptionBudget selecting its pods`,
                        d.urn,
                    );
                }
            }
        },
    };
}

/**
 * Production pods sit behind a NetworkPolicy that restricts their ingress, so only the callers
 * the stack names reach the model (once the cluster's network plugin enforces policies).
 */
export function networkPolicyInProduction(
    enforcementLevel: EnforcementLevel,
): StackValidationPolicy {
    return {
        name: "network-policy-in-production",
        description:
            "A NetworkPolicy restricting ingress selects every production Deployment's pods.",
        enforcementLevel,
        configSchema: productionSchema,
        validateStack: (args, report) => {
            if (!args.getConfig<ProductionConfig>().production) return;
            const policies = args.resources.filter(isNetworkPolicy).filter((p) => {
                // Without policyTypes, Kubernetes counts a policy as Ingress.
                const types = p.props.spec?.policyTypes ?? ["Ingress"];
                return types.includes("Ingress");
            });
            for (const d of args.resources.filter(isDeployment)) {
                const podLabels = d.props.spec?.template?.metadata?.labels ?? {};
                const sameNamespace = (p: ResourceWith<NetworkPolicy>) =>
                    p.props.metadata?.namespace === d.props.metadata?.namespace;
                const covered = policies.some(
                    (p) =>
                        sameNamespace(p) &&
                        p.props.spec?.podSelector !== undefined &&
                        selects(p.props.spec.podSelector, podLabels),
                );
                if (!covered) {
                    report(
                        `Deployment ${d.name} has no NetworkPolicy restricting ingress to its pods; set networkPolicy: true`,
                        d.urn,
                    );
                }
            }
        },
    };
}

/**
 * The pod annotation naming the serving image's base (`BASE_IMAGE_ANNOTATION` in
 * components/servingPlan.ts; the policy tests keep the two equal), and the extended resource
 * GPUs are counted in (`GPU_RESOURCE` in components/deploymentSpec.ts).
 */
export const BASE_IMAGE_ANNOTATION = "tfk8s.dev/base-image";
export const GPU_RESOURCE = "nvidia.com/gpu";
/** A TF Serving GPU variant's tag, `…-gpu`, possibly pinned by digest. */
const GPU_TAG = /-gpu(@sha256:[0-9a-f]{64})?$/;

/**
 * GPUs are whole devices, asked for by limit (a request, if any, the same), and only by pods whose
 * base image is a GPU variant: a CPU build never uses the device it holds, and a GPU build with
 * no device runs on CPU from a several times larger image.
 */
export const gpuMatchesImage = containerPolicy(
    "gpu-matches-image",
    "Containers ask for whole nvidia.com/gpu devices by limit, and a pod asks for a GPU exactly when its base image is a -gpu variant.",
    (c, deployment) => {
        const limit = c.resources?.limits?.[GPU_RESOURCE];
        const request = c.resources?.requests?.[GPU_RESOURCE];
        const problems: string[] = [];
        if (limit !== undefined && !/^[1-9]\d*$/.test(String(limit))) {
            problems.push(
                `container "${c.name}" asks for ${GPU_RESOURCE} ${JSON.stringify(limit)}; expected a whole number of devices, at least 1`,
            );
        }
        if (request !== undefined && String(request) !== String(limit)) {
            problems.push(
                `container "${c.name}" requests ${GPU_RESOURCE} ${JSON.stringify(request)} but its limit is ${JSON.stringify(limit)}; expected the limit alone (the request follows it)`,
            );
        }
        const base = deployment.spec?.template?.metadata?.annotations?.[BASE_IMAGE_ANNOTATION];
        if (base !== undefined) {
            const gpuBase = GPU_TAG.test(base);
            if (limit !== undefined && !gpuBase) {
                problems.push(
                    `container "${c.name}" asks for ${GPU_RESOURCE} ${limit} on the CPU base image ${base}; build on its -gpu variant (tfk8s does, given gpu in config)`,
                );
            }
            if (limit === undefined && gpuBase) {
                problems.push(
                    `container "${c.name}" runs the GPU base image ${base} without a ${GPU_RESOURCE} limit; set gpu, or use the CPU image`,
                );
            }
        }
        return problems;
    },
);

/** Every tfk8s policy at one enforcement level: what the pack runs. */
export function tfk8sPolicies(
    enforcementLevel: EnforcementLevel,
): (ResourceValidationPolicy | StackValidationPolicy)[] {
    return [
        imageByDigest(enforcementLevel),
        resourcesSet(enforcementLevel),
        readinessProbe(enforcementLevel),
        nonRoot(enforcementLevel),
        noPublicServiceInProduction(enforcementLevel),
        productionAvailability(enforcementLevel),
        networkPolicyInProduction(enforcementLevel),
        gpuMatchesImage(enforcementLevel),
        podSecurityInProduction(enforcementLevel),
        modelEvaluatedInProduction(enforcementLevel),
    ];
}
