// One containerd at a time: tests share the host's cgroups, shims and CPU.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
