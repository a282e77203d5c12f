using System.Buffers.Binary;
using System.Text;

namespace SeccompEbpf.Bpf.Probing;

/// <summary>
/// The kernel's own BTF (/sys/kernel/btf/vmlinux): which BPF LSM hooks and which newer syscalls this kernel has. A hook
/// exists as the function bpf_lsm_&lt;hook&gt;; libbpf refuses a whole object when one lsm/ program names a missing
/// hook, so the engine loads only the hooks found here and claims only the syscalls whose hooks all are. The fmod_ret
/// fallback attaches to the hook's security_* function instead, which is checked the same way. A syscall the kernel
/// lacks returns ENOSYS before any hook, so a hook cannot give it the profile's errno.
/// </summary>
internal static class VmlinuxBtf
{
    internal const string DefaultPath = "/sys/kernel/btf/vmlinux";
    private const int KindFunc = 12;

    // What SYSCALL_DEFINE names a syscall's functions: the arch's entry point, and the body (__do_sys_) and its
    // argument widening (__se_sys_), one of which is in BTF where the entry point is not (getppid has only __do_sys_).
    private static readonly string[] SyscallFunctionPrefixes = ["__x64_sys_", "__ia32_sys_", "__arm64_sys_", "__do_sys_", "__se_sys_"];
    private static readonly string[] CheckedPrefixes = ["bpf_lsm_", "security_", .. SyscallFunctionPrefixes];

    // The running kernel's BTF does not change: read once per process, ahead of need (ReadAhead).
    private static readonly Lazy<IReadOnlySet<string>?> RunningKernelFunctions = new(() => Functions(DefaultPath));

    /// <summary>Starts reading the running kernel's BTF on the thread pool, beside the rest of the engine's start.</summary>
    internal static void ReadAhead() => ThreadPool.UnsafeQueueUserWorkItem(_ => _ = RunningKernelFunctions.Value, null);

    /// <summary>The running kernel's functions that the checks below ask about, or null when its BTF cannot be read.</summary>
    internal static IReadOnlySet<string>? KernelFunctions => RunningKernelFunctions.Value;

    /// <summary>The functions of the BTF at <paramref name="path"/> that the checks below ask about, or null when it cannot be read or is not BTF.</summary>
    internal static IReadOnlySet<string>? Functions(string path)
    {
        byte[] btf;
        try
        {
            btf = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        return FunctionNames(btf, CheckedPrefixes);
    }

    /// <summary>
    /// The names among <paramref name="hooks"/> that have no bpf_lsm_ function (or, with <paramref name="fmodRet"/>, no
    /// security_* function for the fmod_ret fallback); null when the BTF cannot be read (then nothing is known).
    /// </summary>
    internal static IReadOnlySet<string>? MissingLsmHooks(IEnumerable<string> hooks, string path = DefaultPath, bool fmodRet = false)
        => Functions(path) is { } functions ? MissingLsmHooks(functions, hooks, fmodRet) : null;

    /// <summary>The names among <paramref name="hooks"/> without their function among <paramref name="functions"/> (<see cref="Functions"/>).</summary>
    internal static IReadOnlySet<string> MissingLsmHooks(IReadOnlySet<string> functions, IEnumerable<string> hooks, bool fmodRet = false)
        => hooks.Where(h => !functions.Contains(fmodRet ? Enforcement.LsmHookTable.SecurityFunction(h) : "bpf_lsm_" + h)).ToHashSet(StringComparer.Ordinal);

    /// <summary>
    /// The names among <paramref name="syscalls"/> that the kernel of <paramref name="functions"/> (<see cref="Functions"/>)
    /// does not define: no function of SYSCALL_DEFINE is named after them. Only meaningful for syscalls whose functions
    /// carry the syscall's own name (true of every syscall added since 6.1; older ones such as umount2, whose function
    /// is sys_umount, are not).
    /// </summary>
    internal static IReadOnlySet<string> AbsentSyscalls(IReadOnlySet<string> functions, IEnumerable<string> syscalls)
        => syscalls.Where(name => !SyscallFunctionPrefixes.Any(p => functions.Contains(p + name))).ToHashSet(StringComparer.Ordinal);

    /// <summary>
    /// The names of the FUNC types that start with one of <paramref name="prefixes"/> (every name when none is given),
    /// or null when the blob is not BTF this parser knows.
    /// </summary>
    /// <remarks>
    /// A kernel's BTF names some 60,000 functions; making a string of each took ~100 ms of the daemon's start here.
    /// Comparing the prefixes as bytes first leaves only the few hundred names asked for to decode.
    /// </remarks>
    internal static HashSet<string>? FunctionNames(ReadOnlySpan<byte> btf, params ReadOnlySpan<string> prefixes)
    {
        var wanted = new byte[prefixes.Length][];
        for (int i = 0; i < prefixes.Length; i++)
            wanted[i] = Encoding.ASCII.GetBytes(prefixes[i]);
        if (btf.Length < 24 || BinaryPrimitives.ReadUInt16LittleEndian(btf) != 0xeB9F)
            return null;
        uint hdrLen = BinaryPrimitives.ReadUInt32LittleEndian(btf[4..]);
        uint typeOff = BinaryPrimitives.ReadUInt32LittleEndian(btf[8..]), typeLen = BinaryPrimitives.ReadUInt32LittleEndian(btf[12..]);
        uint strOff = BinaryPrimitives.ReadUInt32LittleEndian(btf[16..]), strLen = BinaryPrimitives.ReadUInt32LittleEndian(btf[20..]);
        if ((ulong)hdrLen + typeOff + typeLen > (ulong)btf.Length || (ulong)hdrLen + strOff + strLen > (ulong)btf.Length)
            return null;
        var types = btf.Slice((int)(hdrLen + typeOff), (int)typeLen);
        var strings = btf.Slice((int)(hdrLen + strOff), (int)strLen);
        var names = new HashSet<string>(StringComparer.Ordinal);
        int at = 0;
        while (at + 12 <= types.Length)
        {
            uint nameOff = BinaryPrimitives.ReadUInt32LittleEndian(types[at..]);
            uint info = BinaryPrimitives.ReadUInt32LittleEndian(types[(at + 4)..]);
            int kind = (int)((info >> 24) & 0x1f), vlen = (int)(info & 0xffff);
            at += 12;
            // the bytes that follow the common header, per kind (include/uapi/linux/btf.h)
            int extra = kind switch
            {
                1 => 4,                                            // INT
                2 or 7 or 8 or 9 or 10 or 11 or 12 or 16 or 18 => 0, // PTR FWD TYPEDEF VOLATILE CONST RESTRICT FUNC FLOAT TYPE_TAG
                3 => 12,                                           // ARRAY
                4 or 5 or 15 or 19 => vlen * 12,                   // STRUCT UNION DATASEC ENUM64
                6 or 13 => vlen * 8,                               // ENUM FUNC_PROTO
                14 or 17 => 4,                                     // VAR DECL_TAG
                _ => -1,
            };
            if (extra < 0)
                return null;
            if (kind == KindFunc && nameOff < strings.Length && StartsWithAny(strings[(int)nameOff..], wanted))
            {
                var rest = strings[(int)nameOff..];
                int end = rest.IndexOf((byte)0);
                names.Add(Encoding.ASCII.GetString(end < 0 ? rest : rest[..end]));
            }
            at += extra;
        }
        return names;
    }

    private static bool StartsWithAny(ReadOnlySpan<byte> name, byte[][] prefixes)
    {
        if (prefixes.Length == 0)
            return true;
        foreach (var prefix in prefixes)
        {
            if (name.StartsWith(prefix))
                return true;
        }
        return false;
    }
}
