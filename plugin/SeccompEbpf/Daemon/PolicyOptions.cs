namespace SeccompEbpf.Daemon;

/// <summary>What to do with a container whose annotations or profile cannot be honoured.</summary>
internal enum InvalidPolicyAction { Veto, StartUnmanaged }

/// <summary>The <c>policy</c> section of the configuration: where profiles come from and the defaults.</summary>
internal sealed class PolicyOptions
{
    /// <summary>Profiles referenced by bare name (NAME → DIR/NAME.json); watched for edits.</summary>
    public string ProfileDirectory { get; set; } = "/etc/seccomp-ebpf/profiles";

    /// <summary>Root of <c>localhost/PATH</c> references, as Kubernetes' Localhost profiles.</summary>
    public string KubeletSeccompRoot { get; set; } = "/var/lib/kubelet/seccomp";

    /// <summary>Profile for containers without annotations; null leaves them unmanaged.</summary>
    public string? DefaultProfile { get; set; }

    /// <summary>Also honour seccomp.security.alpha.kubernetes.io/pod and container.seccomp.security.alpha.kubernetes.io/NAME.</summary>
    public bool HonourLegacyAnnotations { get; set; }

    /// <summary>
    /// The spellings of <see cref="OnInvalidPolicy"/>. The configuration binder parses the enum itself (in any case, and
    /// numbers too), so the raw value is checked against these before binding (<see cref="CheckBeforeBinding"/>).
    /// </summary>
    public static readonly ConfigChoices<InvalidPolicyAction> OnInvalidPolicyChoices = new("policy.onInvalidPolicy", ignoreCase: true,
        ("Veto", InvalidPolicyAction.Veto), ("StartUnmanaged", InvalidPolicyAction.StartUnmanaged));

    /// <summary>Veto (default) or start unmanaged, with a warning, a container whose policy is invalid.</summary>
    public InvalidPolicyAction OnInvalidPolicy { get; set; } = InvalidPolicyAction.Veto;

    /// <summary>
    /// Problems the binder would report badly: it fails on <c>"onInvalidPolicy": "Vetoo"</c> without naming the choices,
    /// and binds <c>"7"</c> to a value that is none of them.
    /// </summary>
    /// <param name="rawOnInvalidPolicy">The configuration's raw <c>policy:onInvalidPolicy</c>; null when unset.</param>
    public static IEnumerable<string> CheckBeforeBinding(string? rawOnInvalidPolicy)
    {
        if (rawOnInvalidPolicy is not null && OnInvalidPolicyChoices.Check(rawOnInvalidPolicy) is { } problem)
            yield return problem;
    }

    /// <summary>How long a profile file must stay unchanged before it is recompiled.</summary>
    public int ReloadDebounceMilliseconds { get; set; } = 100;

    public IEnumerable<string> Validate()
    {
        if (!Path.IsPathRooted(ProfileDirectory))
            yield return $"policy.profileDirectory: \"{ProfileDirectory}\" must be an absolute path";
        if (!Path.IsPathRooted(KubeletSeccompRoot))
            yield return $"policy.kubeletSeccompRoot: \"{KubeletSeccompRoot}\" must be an absolute path";
        if (!Enum.IsDefined(OnInvalidPolicy))
            yield return $"policy.onInvalidPolicy: {(int)OnInvalidPolicy} must be {string.Join(" or ", OnInvalidPolicyChoices.Spellings)}";
        if (ReloadDebounceMilliseconds is < 0 or > 60_000)
            yield return $"policy.reloadDebounceMilliseconds: {ReloadDebounceMilliseconds} must be between 0 and 60000";
    }
}
