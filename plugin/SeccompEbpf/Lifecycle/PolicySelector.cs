namespace SeccompEbpf.Lifecycle;

/// <summary>The policy annotations the API server currently reports for a pod (the runtime's copy is from creation time).</summary>
internal sealed record LivePodAnnotations(string Uid, IReadOnlyDictionary<string, string> Annotations);

/// <summary>
/// Selection as a pure function (ARCHITECTURE.md, "The daemon core"): a pod's and a container's annotations, the pod's
/// live annotations from the API server when known, and the configured defaults go in; the profile reference and mode
/// come out. No I/O and no locks: loading the selected profile is the caller's business.
/// </summary>
internal sealed class PolicySelector(string? defaultProfile, bool honourLegacyAnnotations)
{
    /// <exception cref="PolicySelectionException">An annotation has a value that means nothing; the message names it.</exception>
    public PolicySelection Select(PodRecord pod, ContainerRecord container, LivePodAnnotations? live = null) =>
        PolicyAnnotations.Select(WithLive(pod, live).Annotations, container.Annotations, container.Name, defaultProfile, honourLegacyAnnotations);

    /// <summary><paramref name="pod"/> with its policy annotations replaced by the API server's, when they are about the same pod.</summary>
    public static PodRecord WithLive(PodRecord pod, LivePodAnnotations? live) =>
        live is null || !SamePod(pod, live.Uid) ? pod : pod with { Annotations = Merge(pod.Annotations, live.Annotations) };

    /// <summary>True unless both uids are known and differ (a pod of the same name from before).</summary>
    public static bool SamePod(PodRecord pod, string? uid) => string.IsNullOrEmpty(uid) || string.IsNullOrEmpty(pod.Uid) || pod.Uid == uid;

    /// <summary>The runtime's annotations with every policy annotation replaced by <paramref name="policy"/>.</summary>
    public static Dictionary<string, string> Merge(IReadOnlyDictionary<string, string> runtime, IReadOnlyDictionary<string, string> policy)
    {
        var merged = runtime.Where(a => !PolicyAnnotations.IsPolicyAnnotation(a.Key)).ToDictionary(StringComparer.Ordinal);
        foreach (var (key, value) in policy)
            merged[key] = value;
        return merged;
    }
}
