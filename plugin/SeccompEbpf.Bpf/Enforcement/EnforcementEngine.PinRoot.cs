using SeccompEbpf.Bpf.Interop;

namespace SeccompEbpf.Bpf.Enforcement;

public sealed partial class EnforcementEngine
{
    /// <summary>
    /// Mounts a bpf file system at /sys/fs/bpf when the pin root lies on none, and creates the pin root: the first steps
    /// of <see cref="Open"/>, for a caller that must lock the pin root before an engine opens (and adopts) it.
    /// </summary>
    /// <exception cref="BpfException">mount(2) failed.</exception>
    /// <exception cref="InvalidOperationException">The pin root is on no bpf file system and not under /sys/fs/bpf.</exception>
    public static void PreparePinRoot(string pinRoot)
    {
        BpfFs.EnsureMounted(pinRoot);
        Directory.CreateDirectory(pinRoot);
    }
}
