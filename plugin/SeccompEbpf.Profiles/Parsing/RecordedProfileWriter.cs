using System.Text;
using System.Text.Json;
using SeccompEbpf.Profiles.Syscalls;

namespace SeccompEbpf.Profiles.Parsing;

/// <summary>The distinct values one argument of one syscall had, on any ABI, while a recording collected them (`record --with-args`).</summary>
/// <param name="Syscall">The syscall's name.</param>
/// <param name="Index">The argument, 0..5.</param>
/// <param name="Values">Distinct; i386 and x32 values are the 32-bit registers, zero-extended.</param>
/// <param name="Overflow">More distinct values were seen than the recorder holds: Values is incomplete and must not restrict.</param>
public sealed record RecordedArgument(string Syscall, int Index, IReadOnlyList<ulong> Values, bool Overflow);

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
    /// <param name="arguments">
    /// Argument values recorded for a few syscalls: a recorded syscall among them gets one rule per value (its argument
    /// equal to the value) instead of the unconditional allow; one whose values overflowed, or that has none (it ran
    /// only before the values were collected), stays unconditional and the comment says why.
    /// </param>
    public static string Write(IReadOnlyDictionary<string, IReadOnlyList<string>> syscalls, string comment, IReadOnlyList<RecordedArgument>? arguments = null)
    {
        var arches = syscalls.Where(kv => kv.Value.Count > 0).Select(kv => kv.Key).ToList();
        if (arches.Count == 0)
            arches.Add(SyscallTables.ScmpName(SyscallArch.X86_64)); // nothing recorded: deny everything on the native ABI
        // the profile's own order: native first, then the compat ABIs, as Docker's profiles list them
        arches = arches.OrderBy(a => SyscallTables.FromName(a) is { } abi ? (int)abi : int.MaxValue).ThenBy(a => a, StringComparer.Ordinal).ToList();
        var names = syscalls.Values.SelectMany(n => n).Distinct().Order(StringComparer.Ordinal).ToList();
        var restricted = new List<RecordedArgument>();
        var notes = new List<string>();
        foreach (var argument in (arguments ?? []).OrderBy(a => a.Syscall, StringComparer.Ordinal))
        {
            if (!names.Contains(argument.Syscall))
                continue; // never attempted: denied like any other syscall not recorded
            if (argument.Overflow)
                notes.Add($"{argument.Syscall}: argument {argument.Index} had more distinct values than the recorder holds, so it is allowed with any value.");
            else if (argument.Values.Count == 0)
                notes.Add($"{argument.Syscall}: attempted, but not while its argument {argument.Index} was recorded, so it is allowed with any value.");
            else
                restricted.Add(argument with { Values = argument.Values.Distinct().Order().ToList() });
        }
        names.RemoveAll(n => restricted.Any(r => r.Syscall == n));
        if (restricted.Count > 0)
            comment += $" Allowed only with the argument values recorded: {string.Join(", ", restricted.Select(r => $"{r.Syscall} (argument {r.Index}: {r.Values.Count})"))}.";
        if (notes.Count > 0)
            comment += " " + string.Join(" ", notes);
        bool commented = false;

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
                commented = true;
            }
            foreach (var argument in restricted)
            {
                foreach (ulong value in argument.Values)
                {
                    json.WriteStartObject();
                    json.WriteStartArray("names");
                    json.WriteStringValue(argument.Syscall);
                    json.WriteEndArray();
                    json.WriteString("action", "SCMP_ACT_ALLOW");
                    json.WriteStartArray("args");
                    json.WriteStartObject();
                    json.WriteNumber("index", argument.Index);
                    json.WriteNumber("value", value);
                    json.WriteString("op", "SCMP_CMP_EQ");
                    json.WriteEndObject();
                    json.WriteEndArray();
                    if (!commented)
                    {
                        // every recorded syscall is restricted: the recording's comment goes on the first rule
                        json.WriteString("comment", comment);
                        commented = true;
                    }
                    json.WriteEndObject();
                }
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }
}
