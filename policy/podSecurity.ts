/**
 * Production pods run where Pod Security admission enforces the `restricted` standard, so nothing
 * privileged can run next to the model: the namespace the stack creates carries the enforce label
 * (`POD_SECURITY_LABELS` in components/servingPlan.ts; the policy tests keep the two equal). A
 * namespace the stack does not create is not the stack's to label: a production stack deploying
 * into one must say why in the policy config (`exemptionReason`).
 */
import * as k8s from "@pulumi/kubernetes";
import type { Unwrap } from "@pulumi/pulumi";
import { EnforcementLevel, PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { ResourceWith, isDeployment } from "./policies";

type Namespace = Unwrap<k8s.types.input.core.v1.Namespace>;

/** The labels Pod Security admission reads, with the values production needs. */
export const ENFORCE_LABEL = "pod-security.kubernetes.io/enforce";
export const ENFORCE_VERSION_LABEL = "pod-security.kubernetes.io/enforce-version";

/** Config of the policy, set per stack with `--policy-pack-config`. */
interface PodSecurityConfig {
    readonly production: boolean;
    readonly exemptionReason: string;
}

function isNamespace(r: PolicyResource): r is ResourceWith<Namespace> {
    return r.isType(k8s.core.v1.Namespace);
}

export function podSecurityInProduction(enforcementLevel: EnforcementLevel): StackValidationPolicy {
    return {
        name: "pod-security-in-production",
        description:
            "Production Deployments run in a namespace the stack labels for Pod Security's restricted standard, at a pinned version, or the config says why not.",
        enforcementLevel,
        configSchema: {
            properties: {
                production: {
                    type: "boolean",
                    default: false,
                    description: "The stack is production.",
                },
                exemptionReason: {
                    type: "string",
                    default: "",
                    description:
                        "Why production Deployments run in a namespace this stack does not create (and so cannot label).",
                },
            },
        },
        validateStack: (args, report) => {
            const { production, exemptionReason } = args.getConfig<PodSecurityConfig>();
            if (!production) return;
            const namespaces = args.resources.filter(isNamespace);
            for (const d of args.resources.filter(isDeployment)) {
                const name = d.props.metadata?.namespace ?? "default";
                const ns = namespaces.find((n) => n.props.metadata?.name === name);
                if (ns === undefined) {
                    if ((exemptionReason ?? "").trim() === "") {
                        report(
                            `Deployment ${d.name} runs in namespace "${name}", which this stack does not create, so nothing ` +
                                "here enforces Pod Security on it: set createNamespace: true, or give the reason as this policy's exemptionReason",
                            d.urn,
                        );
                    }
                    continue;
                }
                const labels = ns.props.metadata?.labels ?? {};
                if (labels[ENFORCE_LABEL] !== "restricted" || !labels[ENFORCE_VERSION_LABEL]) {
                    report(
                        `Namespace ${ns.name} ("${name}") has ${ENFORCE_LABEL}: ${labels[ENFORCE_LABEL] ?? "(none)"} and ` +
                            `${ENFORCE_VERSION_LABEL}: ${labels[ENFORCE_VERSION_LABEL] ?? "(none)"}; production needs restricted at a pinned version`,
                        ns.urn,
                    );
                }
            }
        },
    };
}
