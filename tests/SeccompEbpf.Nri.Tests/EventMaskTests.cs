using Nri.Pkg.Api.V1Alpha1;

namespace SeccompEbpf.Nri.Tests;

public sealed class EventMaskTests
{
    private static NriRuntimeInfo Runtime(string name, string version, string? nri = null)
        => new(name, version, nri, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(2));

    [Theory]
    [InlineData("containerd", "1.7.24~ds1", null, 0x7FF)]
    [InlineData("containerd", "v1.7.34", null, 0x7FF)]
    [InlineData("containerd", "v2.0.0", null, 0x7FF)]
    [InlineData("containerd", "v2.1.4", null, 0x7FF)]
    [InlineData("containerd", "v2.2.0", null, 0x3FFF)]
    [InlineData("containerd", "2.2.1+unknown", null, 0x3FFF)]
    [InlineData("containerd", "v2.3.0-rc.1", null, 0x3FFF)]
    [InlineData("containerd", "garbage", null, 0x7FF)]
    [InlineData("cri-o", "1.34.0", null, 0x7FF)]
    [InlineData("containerd", "1.7.24~ds1", "v0.12.0", 0x3FFF)]
    [InlineData("anything", "1.0", "0.10.0", 0x3FFF)]
    [InlineData("containerd", "v2.2.0", "v0.8.0", 0x7FF)]
    public void ValidEventsFollowTheRuntimesNriVersion(string name, string version, string? nri, int expected)
        => Assert.Equal(expected, NriEventMask.ValidEventsFor(Runtime(name, version, nri)));

    [Fact]
    public void BitIsOneShiftedByEventMinusOne()
    {
        Assert.Equal(0x1, NriEventMask.Bit(Event.RunPodSandbox));
        Assert.Equal(0x20, NriEventMask.Bit(Event.StartContainer));
        Assert.Equal(0x400, NriEventMask.Bit(Event.RemoveContainer));
        Assert.Equal(0x2000, NriEventMask.Bit(Event.ValidateContainerAdjustment));
    }

    [Theory]
    [InlineData("1.7.24~ds1", 1, 7, 24)]
    [InlineData("v2.2.0", 2, 2, 0)]
    [InlineData("V2.1", 2, 1, 0)]
    [InlineData(" 2.3.4-beta ", 2, 3, 4)]
    public void ParsesRuntimeVersions(string text, int major, int minor, int patch)
    {
        Assert.True(NriEventMask.TryParseVersion(text, out Version? version));
        Assert.Equal(new Version(major, minor, patch), version);
    }

    [Theory]
    [InlineData("")]
    [InlineData("v")]
    [InlineData("2")]
    [InlineData("1.x.3")]
    [InlineData("1.2.3.4")]
    public void RejectsUnparsableVersions(string text) => Assert.False(NriEventMask.TryParseVersion(text, out _));

    [Fact]
    public void HandlerInterfacesDecideTheMaskAndItIsMaskedToTheRuntime()
    {
        var set = new NriHandlerSet(new PodUpdatePlugin());
        Assert.Equal(0x20 | 0x800 | 0x1000, set.HandledEvents);
        Assert.Equal(0x20, set.MaskFor(Runtime("containerd", "1.7.24~ds1")));
        Assert.Equal(0x20 | 0x800 | 0x1000, set.MaskFor(Runtime("containerd", "v2.2.0")));
        Assert.Equal(0x7FF, new NriHandlerSet(new RecordingPlugin()).MaskFor(Runtime("containerd", "v2.2.0")));
    }

    [Fact]
    public void MaskIsNeverZero()
    {
        var set = new NriHandlerSet(new NoHandlersPlugin());
        Assert.Equal(0, set.HandledEvents);
        Assert.Equal(NriEventMask.Bit(Event.RemovePodSandbox), set.MaskFor(Runtime("containerd", "1.7.24~ds1")));
    }
}
