/**
 * Production serves only models that passed the quality gate at preview: a trained model's test
 * accuracy, or a loaded one's as the stack evaluated it (model/sources/gate.ts), is on every pod.
 */
import * as k8s from "@pulumi/kubernetes";
import { EnforcementLevel, ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { ProductionConfig, productionSchema } from "./policies";

/**
 * The pod annotation holding the served model's test accuracy (`MODEL_ACCURACY_ANNOTATION` in
 * components/servingPlan.ts; the policy tests keep the two equal).
 */
export const MODEL_ACCURACY_ANNOTATION = "tfk8s.dev/model-accuracy";

/**
 * Production serves only models that passed the quality gate: every pod states its model's test
 * accuracy. A model served with skipModelEvaluation (tfjs-node could not run it) has none.
 */
export function modelEvaluatedInProduction(
    enforcementLevel: EnforcementLevel,
): ResourceValidationPolicy {
    return {
        name: "model-evaluated-in-production",
        description: `Production pods carry ${MODEL_ACCURACY_ANNOTATION}: their model passed the quality gate.`,
        enforcementLevel,
        configSchema: productionSchema,
        validateResource: validateResourceOfType(
            k8s.apps.v1.Deployment,
            (deployment, args, report) => {
                if (!args.getConfig<ProductionConfig>().production) return;
                const annotations = deployment.spec?.template?.metadata?.annotations ?? {};
                if (annotations[MODEL_ACCURACY_ANNOTATION] === undefined) {
                    report(
                        `the pods carry no ${MODEL_ACCURACY_ANNOTATION}: their model was not evaluated (skipModelEvaluation); ` +
                            "production serves only models that passed the quality gate at preview",
                    );
                }
            },
        ),
    };
}
