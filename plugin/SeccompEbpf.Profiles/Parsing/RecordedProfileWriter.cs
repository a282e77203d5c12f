using System.Text;
using System.Text.Json;
using SeccompEbpf.Profiles.Syscalls;

namespace SeccompEbpf.Profiles.Parsing;

/// <summary>
/// Writes a recording as an OCI/Docker seccomp profile: the recorded syscalls allowed, everything else ERRNO(EPERM).
/// </summary>
/// <remarks>
/// An OCI profile names syscalls, not (ABI, number) pairs: libseccomp adds every name to every listed architecture where
/// the name exists. A container that recorded syscalls on several ABIs therefore gets the union of their names on each
/// of them; the comment lists what each ABI recorded.
/// </remarks>
public static class RecordedProfileWriter
{
    /// <param name="syscalls">Recorded names per SCMP_ARCH_* spelling; ABIs with no syscall are left out of "architectures".</param>
    /// <param name="comment">
    /// What was recorded, when and from which container: the "comment" of the allow rule (the only comment field the
    /// Docker/OCI format has; a top-level one is not part of it). An empty recording has no rule, hence no comment.
    /// </param>
    public static string Write(IReadOnlyDictionary<string, IReadOnlyList<string>> syscalls, string comment)
    {
        var arches = syscalls.Where(kv => kv.Value.Count > 0).Select(kv => kv.Key).ToList();
        if (arches.Count == 0)
            arches.Add(SyscallTables.ScmpName(SyscallArch.X86_64)); // nothing recorded: deny everything on the native ABI
        // the profile's own order: native first, then the compat ABIs, as Docker's profiles list them
        arches = arches.OrderBy(a => SyscallTables.FromName(a) is { } abi ? (int)abi : int.MaxValue).ThenBy(a => a, StringComparer.Ordinal).ToList();
        var names = syscalls.Values.SelectMany(n => n).Distinct().Order(StringComparer.Ordinal).ToList();

        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("defaultAction", "SCMP_ACT_ERRNO");
            json.WriteNumber("defaultErrnoRet", 1);
            json.WriteStartArray("architectures");
            foreach (string arch in arches)
                json.WriteStringValue(arch);
            json.WriteEndArray();
            json.WriteStartArray("syscalls");
            if (names.Count > 0)
            {
                json.WriteStartObject();
                json.WriteStartArray("names");
                foreach (string name in names)
                    json.WriteStringValue(name);
                json.WriteEndArray();
                json.WriteString("action", "SCMP_ACT_ALLOW");
                json.WriteString("comment", comment);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }
}
