namespace SeccompEbpf.Lifecycle;

/// <summary>How a container's syscalls are handled: enforced, only logged, or not managed at all.</summary>
internal enum PolicyMode { Enforce, Audit, Off }

/// <summary>What the annotations ask for one container, and which annotation said so (for error messages).</summary>
/// <param name="Record">seccomp-ebpf.io/record[.&lt;container&gt;] is "true": record the container's syscalls from its start (docs/recording.md).</param>
/// <param name="ShadowReference">seccomp-ebpf.io/shadow[.&lt;container&gt;]: a profile evaluated beside the one in force, never applied (docs/shadow.md).</param>
internal sealed record PolicySelection(string? ProfileReference, string? ProfileSource, PolicyMode Mode, string? ModeSource, bool Record = false,
    string? ShadowReference = null, string? ShadowSource = null)
{
    public bool IsManaged => ProfileReference is not null && Mode != PolicyMode.Off;
}

/// <summary>Reads <c>seccomp-ebpf.io/*</c> (and, opted in, the legacy Kubernetes seccomp) annotations.</summary>
internal static class PolicyAnnotations
{
    public const string Profile = "seccomp-ebpf.io/profile";
    public const string Mode = "seccomp-ebpf.io/mode";
    public const string Record = "seccomp-ebpf.io/record";
    public const string Shadow = "seccomp-ebpf.io/shadow";
    public const string LegacyPod = "seccomp.security.alpha.kubernetes.io/pod";
    public const string LegacyContainerPrefix = "container.seccomp.security.alpha.kubernetes.io/";
    /// <summary>Longest annotation or profile value echoed in a message.</summary>
    public const int MaxEchoedLength = 256;

    /// <summary>
    /// <paramref name="value"/> fit to be echoed in a veto or log line: annotation values are up to 256 KB, and a veto
    /// travels back to the CRI client in a gRPC header that breaks clients above 64 KB.
    /// </summary>
    public static string Echo(string value, int max = MaxEchoedLength) =>
        value.Length <= max ? value : $"{value[..max]}… ({value.Length} characters)";

    /// <summary>Annotations that select policy: seccomp-ebpf.io/* and the legacy Kubernetes seccomp ones.</summary>
    public static bool IsPolicyAnnotation(string key) =>
        key.StartsWith("seccomp-ebpf.io/", StringComparison.Ordinal) ||
        key == LegacyPod ||
        key.StartsWith(LegacyContainerPrefix, StringComparison.Ordinal);

    /// <summary>The policy annotations of <paramref name="annotations"/>.</summary>
    public static Dictionary<string, string> PolicyAnnotationsOf(IReadOnlyDictionary<string, string>? annotations) =>
        (annotations ?? new Dictionary<string, string>()).Where(a => IsPolicyAnnotation(a.Key)).ToDictionary(StringComparer.Ordinal);

    /// <summary>True when both sets of policy annotations are the same.</summary>
    public static bool SamePolicyAnnotations(IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string> b)
    {
        var x = PolicyAnnotationsOf(a);
        var y = PolicyAnnotationsOf(b);
        return x.Count == y.Count && x.All(kv => y.TryGetValue(kv.Key, out var v) && v == kv.Value);
    }

    /// <summary>
    /// Resolves the selection for <paramref name="containerName"/>: a container-specific key wins over the pod's,
    /// the container's own annotations win over the pod's, and the configured default applies last.
    /// </summary>
    /// <exception cref="PolicySelectionException">An annotation has a value that means nothing.</exception>
    public static PolicySelection Select(
        IReadOnlyDictionary<string, string> podAnnotations,
        IReadOnlyDictionary<string, string> containerAnnotations,
        string containerName,
        string? defaultProfile,
        bool honourLegacyAnnotations)
    {
        var (profile, profileSource) = Lookup(podAnnotations, containerAnnotations, $"{Profile}.{containerName}", Profile);
        if (profile is null && honourLegacyAnnotations)
            (profile, profileSource) = Lookup(podAnnotations, containerAnnotations, LegacyContainerPrefix + containerName, LegacyPod);
        if (profile is null && defaultProfile is not null)
            (profile, profileSource) = (defaultProfile, "the configured default profile");
        if (profile is not null && string.IsNullOrWhiteSpace(profile))
            throw new PolicySelectionException($"annotation {profileSource}: the profile reference is empty");

        var (modeText, modeSource) = Lookup(podAnnotations, containerAnnotations, $"{Mode}.{containerName}", Mode);
        var mode = modeText switch
        {
            null or "enforce" => PolicyMode.Enforce,
            "audit" => PolicyMode.Audit,
            "off" => PolicyMode.Off,
            _ => throw new PolicySelectionException($"annotation {modeSource}=\"{Echo(modeText)}\": mode must be enforce, audit or off"),
        };

        var (recordText, recordSource) = Lookup(podAnnotations, containerAnnotations, $"{Record}.{containerName}", Record);
        bool record = recordText switch
        {
            null or "false" => false,
            "true" => true,
            _ => throw new PolicySelectionException($"annotation {recordSource}=\"{Echo(recordText)}\": record must be true or false"),
        };

        var (shadow, shadowSource) = Lookup(podAnnotations, containerAnnotations, $"{Shadow}.{containerName}", Shadow);
        if (shadow is not null && string.IsNullOrWhiteSpace(shadow))
            throw new PolicySelectionException($"annotation {shadowSource}: the shadow profile reference is empty");

        // "unconfined" is Kubernetes' word for no filter: the container is not managed (unless it records).
        if (profile is "unconfined")
            mode = PolicyMode.Off;
        return new PolicySelection(profile, profileSource, mode, modeSource, record, shadow, shadowSource);
    }

    private static (string? Value, string? Source) Lookup(
        IReadOnlyDictionary<string, string> pod, IReadOnlyDictionary<string, string> container, string specificKey, string generalKey)
    {
        foreach (var (annotations, owner) in new[] { (container, "container"), (pod, "pod") })
        {
            if (annotations.TryGetValue(specificKey, out var value))
                return (value.Trim(), $"{specificKey} ({owner})");
        }
        foreach (var (annotations, owner) in new[] { (container, "container"), (pod, "pod") })
        {
            if (annotations.TryGetValue(generalKey, out var value))
                return (value.Trim(), $"{generalKey} ({owner})");
        }
        return (null, null);
    }
}

/// <summary>An annotation or profile reference that cannot be honoured; the message names it and says why.</summary>
internal sealed class PolicySelectionException(string message) : Exception(message);
