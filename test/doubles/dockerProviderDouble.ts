/**
 * TEST DOUBLE of the `docker` resource provider plugin (pulumi-docker 5.2.0), for the integration
 * test only. The real provider cannot be built on our CI machine: the Go module proxy refuses
 * every version of github.com/pulumi/pulumi-docker (403), and no release binary can be downloaded.
 *
 * It serves the one resource the stack uses, `docker:index/image:Image`, over Pulumi's real
 * provider protocol (the SDK's `provider.main`); dockerImageProvider.ts says what it matches of
 * the real provider and how. The Pulumi engine, language host, kubernetes provider, Docker engine
 * and registry around it are all real.
 *
 * Started by the `pulumi-resource-docker` launcher that test/support/realStack.ts writes onto PATH.
 */
import * as provider from "@pulumi/pulumi/provider";
import { imageProvider } from "./dockerImageProvider";

provider.main(imageProvider, process.argv.slice(2)).catch((err: Error) => {
    console.error(err);
    process.exit(1);
});
