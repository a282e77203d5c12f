using Microsoft.Extensions.Logging.Abstractions;
using SeccompEbpf.Daemon;

namespace SeccompEbpf.Lifecycle.Tests;

/// <summary>
/// A PolicyController wired as the daemon wires it (RunCommand), with a real ProfileStore over a temporary profile
/// directory and a <see cref="FakeEnforcement"/> in place of the BPF engine. Drives it as NriLifecycleHandler does:
/// Admit lists a created container, the table gets the started record before Start.
/// </summary>
internal sealed class LifecycleHarness : IDisposable
{
    public const string ReferenceProfile = """{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}""";
    public const string EditedProfile = """{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "rmdir"], "action": "SCMP_ACT_ERRNO"}]}""";
    public const string OtherProfile = """{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["chmod"], "action": "SCMP_ACT_ERRNO"}]}""";

    // Reloads are debounced and run on the thread pool; a loaded CI node may take a while.
    private static readonly TimeSpan EventTimeout = TimeSpan.FromSeconds(20);

    private readonly string _root;
    private readonly List<PolicyNotice> _notices = [];
    private ulong _nextCgroup = 1000;

    public LifecycleHarness(string? defaultProfile = null, InvalidPolicyAction onInvalidPolicy = InvalidPolicyAction.Veto,
        FakeEnforcement? engine = null, bool engineUnavailable = false)
    {
        _root = Directory.CreateTempSubdirectory("seccomp-ebpf-lifecycle-").FullName;
        ProfileDirectory = Path.Join(_root, "profiles");
        Directory.CreateDirectory(ProfileDirectory);
        Options = new PolicyOptions
        {
            ProfileDirectory = ProfileDirectory,
            KubeletSeccompRoot = Path.Join(_root, "kubelet-seccomp"), // absent: not watched
            DefaultProfile = defaultProfile,
            OnInvalidPolicy = onInvalidPolicy,
            ReloadDebounceMilliseconds = 20,
        };
        Engine = engine ?? new FakeEnforcement();
        Profiles = new ProfileStore(Options, ContainerDefaults.CompileContext(), NullLogger<ProfileStore>.Instance);
        Table = new ContainerTable();
        Controller = new PolicyController(Table, Profiles, engineUnavailable ? null : Engine, engineUnavailable ? "BPF is not available (test)" : null,
            Options, NullLogger<PolicyController>.Instance);
        Controller.Noticed += n =>
        {
            lock (_notices)
                _notices.Add(n);
        };
    }

    public string ProfileDirectory { get; }
    public PolicyOptions Options { get; }
    public FakeEnforcement Engine { get; }
    public ProfileStore Profiles { get; }
    public ContainerTable Table { get; }
    public PolicyController Controller { get; }

    public IReadOnlyList<PolicyNotice> Notices
    {
        get
        {
            lock (_notices)
                return _notices.ToList();
        }
    }

    /// <summary>Writes NAME.json in the profile directory at once (a rename, as editors and ConfigMap mounts do).</summary>
    public void WriteProfile(string name, string json)
    {
        var temporary = Path.Join(_root, $"{name}.json.new");
        File.WriteAllText(temporary, json);
        File.Move(temporary, Path.Join(ProfileDirectory, $"{name}.json"), overwrite: true);
    }

    public void RemoveProfile(string name) => File.Delete(Path.Join(ProfileDirectory, $"{name}.json"));

    public static PodRecord Pod(string id, IReadOnlyDictionary<string, string>? annotations = null, string name = "web", string @namespace = "default") =>
        new(id, name, @namespace, $"uid-{id}", new Dictionary<string, string>(), annotations ?? new Dictionary<string, string>());

    public static ContainerRecord Container(string id, string podId, string name = "app", IReadOnlyDictionary<string, string>? annotations = null) =>
        new(id, podId, name, new Dictionary<string, string>(), annotations ?? new Dictionary<string, string>(), ContainerPhase.Created);

    /// <summary>CreateContainer: decide, then list the container with its policy (as NriLifecycleHandler does).</summary>
    public void Create(PodRecord pod, ContainerRecord container)
    {
        Table.UpsertPod(pod);
        Controller.Admit(container, Controller.Decide(pod, container));
    }

    /// <summary>StartContainer with a fresh cgroup id: list the started container, then bind.</summary>
    public ContainerRecord Start(PodRecord pod, ContainerRecord container)
    {
        var started = container with { Phase = ContainerPhase.Started, Pid = 4242, CgroupPath = $"/kubepods/{container.Id}", CgroupId = ++_nextCgroup };
        Table.UpsertContainer(started);
        Controller.Start(pod, started);
        return started;
    }

    public ContainerRecord CreateAndStart(PodRecord pod, ContainerRecord container)
    {
        Create(pod, container);
        return Start(pod, container);
    }

    /// <summary>Waits for the store to accept an edit of <paramref name="reference"/>; <paramref name="edit"/> makes it.</summary>
    public LoadedProfile AwaitReload(string reference, Action edit) => Await<LoadedProfile>(done =>
    {
        void OnChanged(LoadedProfile p)
        {
            if (p.Reference == reference)
                done(p);
        }
        // Subscribed after the controller: when this fires, the controller has already rebound.
        Profiles.Changed += OnChanged;
        return () => Profiles.Changed -= OnChanged;
    }, edit);

    /// <summary>Waits for the store to reject an edit of <paramref name="reference"/>; returns the problem.</summary>
    public string AwaitRejection(string reference, Action edit) => Await<string>(done =>
    {
        void OnRejected(string r, string problem)
        {
            if (r == reference)
                done(problem);
        }
        Profiles.Rejected += OnRejected;
        return () => Profiles.Rejected -= OnRejected;
    }, edit);

    // subscribe hands back its unsubscribe; the edit runs only once the handler is in place.
    private static T Await<T>(Func<Action<T>, Action> subscribe, Action edit)
    {
        var raised = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var unsubscribe = subscribe(value => raised.TrySetResult(value));
        try
        {
            edit();
            return raised.Task.WaitAsync(EventTimeout).GetAwaiter().GetResult();
        }
        finally
        {
            unsubscribe();
        }
    }

    /// <summary>Asserts the container's policy was refused, not thrown, and reported as not enforced.</summary>
    public ContainerPolicy AssertRefused(string containerId, string reasonStart)
    {
        var policy = Controller.PolicyOf(containerId)!;
        Assert.Equal(PolicyState.Refused, policy.State);
        Assert.StartsWith(reasonStart, policy.Reason);
        Assert.Contains(Notices, n => n.Kind == PolicyNoticeKind.NotEnforced);
        return policy;
    }

    public void Dispose()
    {
        Profiles.Dispose();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // A watcher may still hold the directory for a moment; the temp directory is cleaned up eventually.
        }
    }
}
