using System.Runtime.CompilerServices;
using Grpc.Core;
using SeccompEbpf.Cri;
using SeccompEbpf.Cri.V1;

namespace SeccompEbpf.Cli;

/// <summary>
/// <c>seccomp-ebpf pod</c>: runs, inspects and removes a one-container pod through the runtime's CRI, so the product can be
/// tried on a host without Kubernetes (scripts/try.sh; crictl is not packaged everywhere). Pods use the host network, so no
/// CNI is needed, and get pod annotations as a kubelet would pass them.
/// </summary>
internal static class PodCommand
{
    private const string DefaultCriSocket = "/run/containerd/containerd.sock";
    private const string DefaultContainer = "main";
    private const string Synopsis = """
        pod run NS/NAME --image REF [--container NAME] [--annotation KEY=VALUE]... [--cri-socket PATH] -- COMMAND [ARG]...
               pod status NS/NAME [--cri-socket PATH]
               pod logs NS/NAME [--container NAME] [--cri-socket PATH]
               pod rm NS/NAME [--cri-socket PATH]
        """;

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Length < 2 || !TryParsePod(args[1], out var ns, out var name))
            return ControlCommands.Usage(stderr, "pod", args.Length >= 2 ? args[1] : null, Synopsis);
        string? image = null, container = null;
        var socket = DefaultCriSocket;
        Dictionary<string, string> annotations = [];
        string[] command = [];
        for (var i = 2; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--image" when i + 1 < args.Length: image = args[++i]; break;
                case "--container" when i + 1 < args.Length: container = args[++i]; break;
                case "--cri-socket" when i + 1 < args.Length: socket = args[++i]; break;
                case "--annotation" when i + 1 < args.Length:
                    var kv = args[++i];
                    var eq = kv.IndexOf('=');
                    if (eq <= 0)
                        return ControlCommands.Usage(stderr, "pod", kv, "--annotation takes KEY=VALUE");
                    annotations[kv[..eq]] = kv[(eq + 1)..];
                    break;
                case "--": command = args[(i + 1)..]; i = args.Length; break;
                default: return ControlCommands.Usage(stderr, "pod", args[i], Synopsis);
            }
        }

        if (!File.Exists(socket))
        {
            stderr.WriteLine($"seccomp-ebpf pod {args[0]}: no CRI socket at {socket}: is containerd running? (--cri-socket names another)");
            return 1;
        }
        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };
        using var cri = new CriConnection(socket);
        try
        {
            switch (args[0])
            {
                case "run":
                    if (image is null || command.Length == 0)
                        return ControlCommands.Usage(stderr, "pod run", null, Synopsis);
                    return await RunPodAsync(cri, ns, name, image, container ?? DefaultContainer, annotations, command, stdout, cancel.Token).ConfigureAwait(false);
                case "status" when image is null && command.Length == 0 && annotations.Count == 0:
                    return await StatusAsync(cri, ns, name, stdout, stderr, cancel.Token).ConfigureAwait(false);
                case "logs" when image is null && command.Length == 0 && annotations.Count == 0:
                    return await LogsAsync(cri, ns, name, container ?? DefaultContainer, stdout, stderr, cancel.Token).ConfigureAwait(false);
                case "rm" when image is null && command.Length == 0 && annotations.Count == 0:
                    return await RemoveAsync(cri, ns, name, stdout, cancel.Token).ConfigureAwait(false);
                default:
                    return ControlCommands.Usage(stderr, "pod", args[0], Synopsis);
            }
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
        {
            stderr.WriteLine($"seccomp-ebpf pod {args[0]}: the runtime at {socket} does not answer: is containerd running?");
            return 1;
        }
        catch (RpcException e)
        {
            stderr.WriteLine($"seccomp-ebpf pod {args[0]}: the runtime at {socket} answered {e.StatusCode}: {e.Status.Detail}");
            return 1;
        }
    }

    private static async Task<int> RunPodAsync(CriConnection cri, string ns, string name, string image, string containerName,
        Dictionary<string, string> annotations, string[] command, TextWriter stdout, CancellationToken ct)
    {
        var uid = Guid.NewGuid().ToString();
        var hostNetwork = new NamespaceOption { Network = NamespaceMode.Node };
        var podConfig = new PodSandboxConfig
        {
            Metadata = new PodSandboxMetadata { Name = name, Namespace = ns, Uid = uid },
            // kubelet's layout, so log collectors and `pod logs` find the files where they expect them.
            LogDirectory = $"/var/log/pods/{ns}_{name}_{uid}",
            Linux = new LinuxPodSandboxConfig { SecurityContext = new LinuxSandboxSecurityContext { NamespaceOptions = hostNetwork } },
        };
        podConfig.Annotations.Add(annotations);
        Directory.CreateDirectory(podConfig.LogDirectory);

        var status = await cri.Images.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = image } }, cancellationToken: ct).ConfigureAwait(false);
        if (status.Image is null)
        {
            stdout.WriteLine($"pulling {image}");
            await cri.Images.PullImageAsync(new PullImageRequest { Image = new ImageSpec { Image = image }, SandboxConfig = podConfig }, cancellationToken: ct).ConfigureAwait(false);
        }

        var podId = (await cri.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = podConfig }, cancellationToken: ct).ConfigureAwait(false)).PodSandboxId;
        try
        {
            var containerConfig = new ContainerConfig
            {
                Metadata = new ContainerMetadata { Name = containerName },
                Image = new ImageSpec { Image = image },
                Command = { command[0] },
                Args = { command[1..] },
                LogPath = $"{containerName}/0.log",
                Linux = new LinuxContainerConfig { SecurityContext = new LinuxContainerSecurityContext { NamespaceOptions = hostNetwork } },
            };
            Directory.CreateDirectory(Path.Join(podConfig.LogDirectory, containerName));
            var containerId = (await cri.Runtime.CreateContainerAsync(new CreateContainerRequest
            {
                PodSandboxId = podId,
                Config = containerConfig,
                SandboxConfig = podConfig,
            }, cancellationToken: ct).ConfigureAwait(false)).ContainerId;
            await cri.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = containerId }, cancellationToken: ct).ConfigureAwait(false);
            stdout.WriteLine($"pod {ns}/{name} {podId[..12]}: container {containerName} {containerId[..12]} started");
            return 0;
        }
        catch
        {
            // A half-made pod would block the next `pod run` of the same name; StartContainer's refusal (a veto) ends here too.
            await RemoveSandboxAsync(cri, podId, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    private static async Task<int> StatusAsync(CriConnection cri, string ns, string name, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var found = false;
        await foreach (var pod in FindAsync(cri, ns, name, ct).ConfigureAwait(false))
        {
            found = true;
            stdout.WriteLine($"pod {ns}/{name} {pod.Id[..12]} {(pod.State == PodSandboxState.SandboxReady ? "ready" : "not ready")}");
            await foreach (var s in ContainerStatusesAsync(cri, pod.Id, ct).ConfigureAwait(false))
            {
                var exit = s.State == ContainerState.ContainerExited ? $" exit code {s.ExitCode}{(s.Reason.Length > 0 ? $" ({s.Reason})" : "")}" : "";
                stdout.WriteLine($"  container {s.Metadata.Name} {s.Id[..12]} {StateName(s.State)}{exit}");
            }
        }
        if (!found)
        {
            stderr.WriteLine($"seccomp-ebpf pod status: no pod {ns}/{name}");
            return 1;
        }
        return 0;
    }

    private static async Task<int> LogsAsync(CriConnection cri, string ns, string name, string containerName, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        await foreach (var pod in FindAsync(cri, ns, name, ct).ConfigureAwait(false))
        {
            await foreach (var s in ContainerStatusesAsync(cri, pod.Id, ct).ConfigureAwait(false))
            {
                if (s.Metadata.Name != containerName || !File.Exists(s.LogPath))
                    continue;
                // CRI log lines: "TIME STREAM TAG message"; P (partial) lines continue on the next one.
                foreach (var line in await File.ReadAllLinesAsync(s.LogPath, ct).ConfigureAwait(false))
                {
                    var parts = line.Split(' ', 4);
                    if (parts.Length < 4)
                        continue;
                    if (parts[2] == "P")
                        stdout.Write(parts[3]);
                    else
                        stdout.WriteLine(parts[3]);
                }
                return 0;
            }
        }
        stderr.WriteLine($"seccomp-ebpf pod logs: no container {containerName} with a log in pod {ns}/{name}");
        return 1;
    }

    private static async Task<int> RemoveAsync(CriConnection cri, string ns, string name, TextWriter stdout, CancellationToken ct)
    {
        var removed = 0;
        await foreach (var pod in FindAsync(cri, ns, name, ct).ConfigureAwait(false))
        {
            await RemoveSandboxAsync(cri, pod.Id, ct).ConfigureAwait(false);
            removed++;
        }
        stdout.WriteLine(removed == 0 ? $"no pod {ns}/{name}" : $"removed pod {ns}/{name}");
        return 0;
    }

    private static async Task RemoveSandboxAsync(CriConnection cri, string podId, CancellationToken ct)
    {
        await cri.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = podId }, cancellationToken: ct).ConfigureAwait(false);
        await cri.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId }, cancellationToken: ct).ConfigureAwait(false);
    }

    private static async IAsyncEnumerable<PodSandbox> FindAsync(CriConnection cri, string ns, string name, [EnumeratorCancellation] CancellationToken ct)
    {
        var pods = await cri.Runtime.ListPodSandboxAsync(new ListPodSandboxRequest(), cancellationToken: ct).ConfigureAwait(false);
        foreach (var pod in pods.Items.Where(p => p.Metadata.Namespace == ns && p.Metadata.Name == name).OrderBy(p => p.CreatedAt))
            yield return pod;
    }

    private static async IAsyncEnumerable<ContainerStatus> ContainerStatusesAsync(CriConnection cri, string podId, [EnumeratorCancellation] CancellationToken ct)
    {
        var containers = await cri.Runtime.ListContainersAsync(new ListContainersRequest { Filter = new ContainerFilter { PodSandboxId = podId } }, cancellationToken: ct).ConfigureAwait(false);
        foreach (var c in containers.Containers)
            yield return (await cri.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = c.Id }, cancellationToken: ct).ConfigureAwait(false)).Status;
    }

    private static string StateName(ContainerState state) => state switch
    {
        ContainerState.ContainerCreated => "created",
        ContainerState.ContainerRunning => "running",
        ContainerState.ContainerExited => "exited",
        _ => "unknown",
    };

    private static bool TryParsePod(string value, out string ns, out string name)
    {
        var slash = value.IndexOf('/');
        ns = slash > 0 ? value[..slash] : "";
        name = slash > 0 ? value[(slash + 1)..] : "";
        return slash > 0 && name.Length > 0 && !name.Contains('/');
    }
}
