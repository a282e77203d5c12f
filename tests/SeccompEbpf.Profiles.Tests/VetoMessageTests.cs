using SeccompEbpf.Lifecycle;

namespace SeccompEbpf.Profiles.Tests;

/// <summary>
/// A veto travels back to the CRI client in a gRPC header (clients break above 64 KB) and into logs and Events:
/// annotation and profile values echoed in it are capped at 256 characters.
/// </summary>
public sealed class VetoMessageTests
{
    private static readonly string Huge = new('a', 100 * 1024);
    private static readonly Dictionary<string, string> None = [];

    private static PolicySelectionException Refused(Action select) => Assert.Throws<PolicySelectionException>(select);

    private static void AssertCapped(string message)
    {
        Assert.True(message.Length < 1024, $"message of {message.Length} characters");
        Assert.Contains(new string('a', PolicyAnnotations.MaxEchoedLength) + $"… ({Huge.Length} characters)", message);
        Assert.DoesNotContain(new string('a', PolicyAnnotations.MaxEchoedLength + 1), message);
    }

    [Fact]
    public void EchoKeepsShortValuesAndCapsLongOnes()
    {
        Assert.Equal("runtime/default", PolicyAnnotations.Echo("runtime/default"));
        Assert.Equal(new string('x', 256), PolicyAnnotations.Echo(new string('x', 256)));
        Assert.Equal(new string('x', 256) + "… (257 characters)", PolicyAnnotations.Echo(new string('x', 257)));
    }

    [Fact]
    public void AHugeModeAnnotationIsNotEchoed()
    {
        var pod = new Dictionary<string, string> { [PolicyAnnotations.Mode] = Huge };
        var e = Refused(() => PolicyAnnotations.Select(pod, None, "app", null, false));
        Assert.StartsWith($"annotation {PolicyAnnotations.Mode} (pod)=\"", e.Message);
        AssertCapped(e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("localhost/")]
    [InlineData("bad name ")]
    public void AHugeProfileReferenceIsNotEchoed(string prefix)
    {
        var e = Refused(() => ProfileReference.Resolve(prefix + Huge, "/etc/seccomp-ebpf/profiles", "/var/lib/kubelet/seccomp"));
        Assert.Contains($"longer than {ProfileReference.MaxReferenceLength} characters", e.Message);
        Assert.True(e.Message.Length < 1024, $"message of {e.Message.Length} characters");
    }

    [Fact]
    public void AMalformedReferenceUnderTheLengthLimitIsCappedToo()
    {
        var reference = "bad name " + new string('a', 900);
        var e = Refused(() => ProfileReference.Resolve(reference, "/etc/seccomp-ebpf/profiles", "/var/lib/kubelet/seccomp"));
        Assert.Contains("… (909 characters)", e.Message);
        Assert.True(e.Message.Length < 1024, $"message of {e.Message.Length} characters");
    }
}
