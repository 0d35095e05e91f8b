"""Running code the kit does not trust: the sandbox (bubblewrap, namespaces, seccomp), the unprivileged
learner user, child processes that die with their parent. May import kit.course only."""
