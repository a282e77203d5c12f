using Google.Protobuf;
using Nri.Pkg.Api.V1Alpha1;

namespace SeccompEbpf.Nri;

/// <summary>
/// Runs, once at start, what a plugin's first container event would otherwise initialize on the runtime's clock: the
/// parsers and per-type state of the container event messages (Configure and an empty Synchronize never touch them).
/// containerd waits for the first CreateContainer/StartContainer answer while the container is held.
/// </summary>
public static class NriWarmup
{
    /// <summary>Encodes and decodes one representative message of each container event; takes a few milliseconds.</summary>
    public static void Run()
    {
        var pod = new PodSandbox
        {
            Id = "warmup", Name = "warmup", Uid = "warmup", Namespace = "warmup", Pid = 1,
            Linux = new LinuxPodSandbox { CgroupParent = "/warmup", CgroupsPath = "/warmup" },
        };
        pod.Labels["warmup"] = "warmup";
        pod.Annotations["warmup"] = "warmup";
        var container = new Container
        {
            Id = "warmup", PodSandboxId = "warmup", Name = "warmup", State = ContainerState.ContainerCreated, Pid = 1,
            Linux = new LinuxContainer { CgroupsPath = "/warmup" },
        };
        container.Labels["warmup"] = "warmup";
        container.Annotations["warmup"] = "warmup";
        container.Args.Add("warmup");
        container.Env.Add("WARMUP=1");
        container.Mounts.Add(new Mount { Destination = "/proc", Type = "proc", Source = "proc", Options = { "nosuid" } });
        container.Linux.Namespaces.Add(new LinuxNamespace { Type = "pid", Path = "/proc/1/ns/pid" });

        RoundTrip(new CreateContainerRequest { Pod = pod, Container = container }, CreateContainerRequest.Parser);
        RoundTrip(new CreateContainerResponse(), CreateContainerResponse.Parser);
        RoundTrip(new StartContainerRequest { Pod = pod, Container = container }, StartContainerRequest.Parser);
        RoundTrip(new StartContainerResponse(), StartContainerResponse.Parser);
        RoundTrip(new StateChangeEvent { Event = Event.StartContainer, Pod = pod, Container = container }, StateChangeEvent.Parser);
        RoundTrip(new StopContainerRequest { Pod = pod, Container = container }, StopContainerRequest.Parser);
        RoundTrip(new StopContainerResponse(), StopContainerResponse.Parser);
        RoundTrip(new RunPodSandboxRequest { Pod = pod }, RunPodSandboxRequest.Parser);
        RoundTrip(new Empty(), Empty.Parser);
    }

    private static void RoundTrip<T>(T message, MessageParser<T> parser)
        where T : IMessage<T>
    {
        var copy = parser.ParseFrom(message.ToByteArray());
        if (!copy.Equals(message))
        {
            throw new InvalidOperationException($"{typeof(T).Name} did not survive an encode/decode round trip");
        }
    }
}
