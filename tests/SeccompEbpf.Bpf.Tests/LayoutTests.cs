using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using SeccompEbpf.Bpf.Interop;

namespace SeccompEbpf.Bpf.Tests;

/// <summary>The C# mirrors of bpf/seccomp.h have the sizes the object's BTF says (Tetragon's alignchecker idea).</summary>
public sealed partial class LayoutTests
{
    public static TheoryData<string, int> Structs => new()
    {
        { "binding", Unsafe.SizeOf<BindingValue>() },
        { "slot_value", Unsafe.SizeOf<SlotValue>() },
        { "sc_action", Unsafe.SizeOf<ScAction>() },
        { "arch_key", Unsafe.SizeOf<ArchKey>() },
        { "arch_value", Unsafe.SizeOf<ArchValue>() },
        { "syscall_key", Unsafe.SizeOf<SyscallKey>() },
        { "syscall_value", Unsafe.SizeOf<SyscallValue>() },
        { "rule_key", Unsafe.SizeOf<RuleKey>() },
        { "rule_value", Unsafe.SizeOf<RuleValue>() },
        { "arg_check", Unsafe.SizeOf<ArgCheckValue>() },
        { "sc_settings", Unsafe.SizeOf<SettingsValue>() },
        { "allow_bitmap", Unsafe.SizeOf<AllowBitmap>() },
        { "rate_value", Unsafe.SizeOf<RateValue>() },
        { "verdict", Unsafe.SizeOf<VerdictValue>() },
        { "gate_parent", Unsafe.SizeOf<GateParent>() },
        { "gate_config", Unsafe.SizeOf<GateConfig>() },
        { "gate_record", Unsafe.SizeOf<GateRecordValue>() },
        { "gate_fallback", Unsafe.SizeOf<GateFallbackValue>() },
        { "recording", Unsafe.SizeOf<RecordingValue>() },
        { "record_args", Unsafe.SizeOf<RecordArgsValue>() },
        { "shadow", Unsafe.SizeOf<ShadowValue>() },
    };

    [Theory]
    [MemberData(nameof(Structs))]
    public void MirrorSizeMatchesBtf(string name, int size)
    {
        var match = Regex.Match(BtfDump.Value, $@"STRUCT '{name}' size=(\d+)");
        Assert.True(match.Success, $"struct {name} is not in the object's BTF");
        Assert.Equal(int.Parse(match.Groups[1].Value), size);
    }

    [Fact]
    public void EventMirrorHasTheHeaderLayout()
    {
        // struct sc_event is only reserved in the ring buffer, so it has no BTF: check against the header's arithmetic
        Assert.Equal(8 * 3 + 4 * 4 + 8 * 6 + 1 + 1 + 2 + 2 + 2 + 16, Unsafe.SizeOf<ScEvent>());
    }

    private static readonly Lazy<string> BtfDump = new(() =>
    {
        string obj = typeof(LayoutTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "BpfObjectPath").Value!;
        var info = new ProcessStartInfo("bpftool", ["btf", "dump", "file", obj]) { RedirectStandardOutput = true };
        using var process = Process.Start(info)!;
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"bpftool btf dump file {obj} failed");
        return output;
    });
}
