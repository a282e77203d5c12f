using System.Text.Json;
using System.Text.Json.Serialization;
using SeccompEbpf.Bpf.Enforcement;

namespace SeccompEbpf.Control;

// The control socket speaks JSON lines: one request line from the CLI, then response lines from the daemon.
// Every response line is a ControlReply; a streaming verb (events --follow) sends many and never a final one.

/// <summary>A CLI request.</summary>
internal sealed record ControlRequest(
    string Verb,
    bool Follow = false,
    string? Pod = null,
    string? Container = null,
    string? Profile = null,
    string? Mode = null,
    string? Shadow = null,
    bool NoShadow = false,
    bool PromoteShadow = false,
    IReadOnlyList<ArgumentToRecord>? WithArgs = null);

/// <summary>One reply line: a result, an event, or an error (verbatim for the CLI).</summary>
internal sealed record ControlReply(bool Ok, string? Error = null, JsonElement? Result = null);

internal static class ControlJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    public const string DefaultSocketPath = "/run/seccomp-ebpf/control.sock";

    public static ControlReply Success<T>(T result) => new(true, Result: JsonSerializer.SerializeToElement(result, Options));

    public static ControlReply Failure(string error) => new(false, error);
}
