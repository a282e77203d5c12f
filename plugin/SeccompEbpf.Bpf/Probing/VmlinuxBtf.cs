using System.Buffers.Binary;
using System.Text;

namespace SeccompEbpf.Bpf.Probing;

/// <summary>
/// The kernel's own BTF (/sys/kernel/btf/vmlinux): which BPF LSM hooks this kernel has. A hook exists as the function
/// bpf_lsm_&lt;hook&gt;; libbpf refuses a whole object when one lsm/ program names a missing hook, so the engine loads
/// only the hooks found here and claims only the syscalls whose hooks all are. The fmod_ret fallback attaches to the
/// hook's security_* function instead, which is checked the same way.
/// </summary>
internal static class VmlinuxBtf
{
    internal const string DefaultPath = "/sys/kernel/btf/vmlinux";
    private const int KindFunc = 12;

    /// <summary>
    /// The names among <paramref name="hooks"/> that have no bpf_lsm_ function (or, with <paramref name="fmodRet"/>, no
    /// security_* function for the fmod_ret fallback); null when the BTF cannot be read (then nothing is known).
    /// </summary>
    internal static IReadOnlySet<string>? MissingLsmHooks(IEnumerable<string> hooks, string path = DefaultPath, bool fmodRet = false)
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
        if (FunctionNames(btf) is not { } functions)
            return null;
        return hooks.Where(h => !functions.Contains(fmodRet ? Enforcement.LsmHookTable.SecurityFunction(h) : "bpf_lsm_" + h)).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>The names of the FUNC types, or null when the blob is not BTF this parser knows.</summary>
    internal static HashSet<string>? FunctionNames(ReadOnlySpan<byte> btf)
    {
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
            if (kind == KindFunc && nameOff < strings.Length)
            {
                var rest = strings[(int)nameOff..];
                int end = rest.IndexOf((byte)0);
                names.Add(Encoding.ASCII.GetString(end < 0 ? rest : rest[..end]));
            }
            at += extra;
        }
        return names;
    }
}
