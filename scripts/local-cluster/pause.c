/*
 * The pod sandbox's process: holds the pod's namespaces open and does nothing else. The
 * registry.k8s.io/pause image cannot be pulled here, so scripts/local-cluster.sh builds this one
 * statically and imports it into containerd as the sandbox image. It reaps zombies (it is PID 1
 * of the pod when the pod shares its PID namespace) and exits on SIGINT or SIGTERM.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { _exit(128 + sig); }

static void reap(int sig) {
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

int main(void) {
    struct sigaction on_stop = {.sa_handler = stop}, on_child = {.sa_handler = reap};
    sigaction(SIGINT, &on_stop, NULL);
    sigaction(SIGTERM, &on_stop, NULL);
    on_child.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &on_child, NULL);
    for (;;) pause();
}
