using System.Text;
using System.Text.Json;
using SeccompEbpf.Profiles.Compiled;
using SeccompEbpf.Profiles.Model;

namespace SeccompEbpf.Profiles.Parsing;

/// <summary>Writes a profile back as JSON in one canonical form (OCI fields plus the Docker extensions in use).</summary>
public static class ProfileSerializer
{
    /// <summary>Serializes; parsing the output gives back an equivalent profile.</summary>
    public static string ToJson(SeccompProfile profile)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("defaultAction", ProfileParser.ActionName(profile.DefaultAction));
            if (profile.DefaultErrnoRet is { } de) w.WriteNumber("defaultErrnoRet", de);
            WriteList(w, "architectures", profile.Architectures);
            if (profile.ArchMap.Count > 0)
            {
                w.WriteStartArray("archMap");
                foreach (var entry in profile.ArchMap)
                {
                    w.WriteStartObject();
                    w.WriteString("architecture", entry.Architecture);
                    WriteList(w, "subArchitectures", entry.SubArchitectures, always: true);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            }
            WriteList(w, "flags", profile.Flags);
            if (profile.ListenerPath is not null) w.WriteString("listenerPath", profile.ListenerPath);
            if (profile.ListenerMetadata is not null) w.WriteString("listenerMetadata", profile.ListenerMetadata);
            w.WriteStartArray("syscalls");
            foreach (var rule in profile.Syscalls)
            {
                w.WriteStartObject();
                WriteList(w, "names", rule.Names, always: true);
                w.WriteString("action", ProfileParser.ActionName(rule.Action));
                if (rule.ErrnoRet is { } e) w.WriteNumber("errnoRet", e);
                if (rule.Args.Count > 0)
                {
                    w.WriteStartArray("args");
                    foreach (var a in rule.Args)
                    {
                        w.WriteStartObject();
                        w.WriteNumber("index", a.Index);
                        w.WriteNumber("value", a.Value);
                        w.WriteNumber("valueTwo", a.ValueTwo);
                        w.WriteString("op", ProfileParser.OpName(a.Op));
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                }
                if (rule.Comment is not null) w.WriteString("comment", rule.Comment);
                WriteFilter(w, "includes", rule.Includes);
                WriteFilter(w, "excludes", rule.Excludes);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>The compiled form as JSON (what the kernel side receives), for <c>profile compile --json</c>.</summary>
    public static string CompiledToJson(CompiledProfile profile, int encodedBytes, int entries)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("hash", profile.Hash);
            w.WriteNumber("encodedBytes", encodedBytes);
            w.WriteNumber("entries", entries);
            w.WriteNumber("maxRulesPerSyscall", profile.MaxRulesPerSyscall);
            w.WriteString("badArchAction", profile.BadArchAction.ToString());
            w.WriteStartArray("arches");
            foreach (var arch in profile.Arches)
            {
                w.WriteStartObject();
                w.WriteString("auditArch", $"0x{arch.AuditArch:X8}");
                w.WriteString("defaultAction", arch.DefaultAction.ToString());
                if (arch.EnosysFromNr is { } en) w.WriteNumber("enosysFromNr", en); else w.WriteNull("enosysFromNr");
                w.WriteStartArray("syscalls");
                foreach (var sys in arch.Syscalls)
                {
                    w.WriteStartObject();
                    w.WriteNumber("nr", sys.Nr);
                    w.WriteString("fallback", sys.Fallback.ToString());
                    w.WriteStartArray("rules");
                    foreach (var rule in sys.Rules)
                    {
                        w.WriteStartObject();
                        w.WriteString("action", rule.Action.ToString());
                        w.WriteStartArray("checks");
                        foreach (var c in rule.Checks)
                        {
                            w.WriteStartObject();
                            w.WriteNumber("index", c.Index);
                            w.WriteString("op", c.Op.ToString());
                            w.WriteString("value", $"0x{c.Value:x}");
                            if (c.Op == CompareOp.MaskedEqual) w.WriteString("datum", $"0x{c.Datum:x}");
                            w.WriteEndObject();
                        }
                        w.WriteEndArray();
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void WriteList(Utf8JsonWriter w, string name, IReadOnlyList<string> items, bool always = false)
    {
        if (items.Count == 0 && !always) return;
        w.WriteStartArray(name);
        foreach (var item in items) w.WriteStringValue(item);
        w.WriteEndArray();
    }

    private static void WriteFilter(Utf8JsonWriter w, string name, RuleFilter filter)
    {
        if (filter.IsEmpty) return;
        w.WriteStartObject(name);
        WriteList(w, "caps", filter.Caps);
        WriteList(w, "arches", filter.Arches);
        if (filter.MinKernel is not null) w.WriteString("minKernel", filter.MinKernel);
        w.WriteEndObject();
    }
}
