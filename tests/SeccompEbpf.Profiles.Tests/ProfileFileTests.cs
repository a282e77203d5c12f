using System.Diagnostics;
using System.Runtime.InteropServices;
using SeccompEbpf.Cli;
using SeccompEbpf.Profiles.Parsing;

namespace SeccompEbpf.Profiles.Tests;

/// <summary>
/// Profiles are read only from regular files, with a cap on the bytes actually read: special files, symlinks out of
/// the root and oversize files are refused at once (each test would hang or exhaust memory otherwise).
/// </summary>
public sealed partial class ProfileFileTests : IDisposable
{
    private const string Valid = """{"defaultAction":"SCMP_ACT_ALLOW"}""";
    private readonly string _root = Directory.CreateTempSubdirectory("profile-file-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string PathOf(string name) => Path.Join(_root, name);

    private static ProfileFileException Refused(Func<object> read)
    {
        var watch = Stopwatch.StartNew();
        var e = Assert.Throws<ProfileFileException>(read);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"refusal took {watch.Elapsed}");
        return e;
    }

    [Fact]
    public void ReadsARegularFileUnderItsRoot()
    {
        File.WriteAllText(PathOf("ok.json"), Valid);
        Assert.Equal(Valid, System.Text.Encoding.UTF8.GetString(ProfileFile.ReadAllBytes(PathOf("ok.json"), _root)));
    }

    [Fact]
    public void RefusesAFifoWithoutBlocking()
    {
        var fifo = PathOf("x.json");
        Assert.Equal(0, MkFifo(fifo, Convert.ToInt32("644", 8)));
        var e = Refused(() => ProfileFile.ReadAllBytes(fifo, _root));
        Assert.Contains("a FIFO, not a regular file", e.Message);
    }

    [Theory]
    [InlineData("/dev/zero")]
    [InlineData("/dev/urandom")]
    public void RefusesACharacterDevice(string device)
    {
        var e = Refused(() => ProfileFile.ReadAllBytes(device));
        Assert.Contains("a character device, not a regular file", e.Message);
    }

    [Fact]
    public void RefusesACharacterDeviceLinkedIntoTheRoot()
    {
        File.CreateSymbolicLink(PathOf("zero.json"), "/dev/zero");
        // Without a root the link is followed to the device, which is refused as such.
        Assert.Contains("character device", Refused(() => ProfileFile.ReadAllBytes(PathOf("zero.json"))).Message);
        Assert.Contains("outside", Refused(() => ProfileFile.ReadAllBytes(PathOf("zero.json"), _root)).Message);
    }

    [Fact]
    public void RefusesASymlinkThatEscapesTheRoot()
    {
        var outside = Directory.CreateTempSubdirectory("profile-outside-").FullName;
        try
        {
            File.WriteAllText(Path.Join(outside, "secret.json"), Valid);
            File.CreateSymbolicLink(PathOf("escape.json"), Path.Join(outside, "secret.json"));
            var e = Refused(() => ProfileFile.ReadAllBytes(PathOf("escape.json"), _root));
            Assert.Contains($"outside {ProfileFile.RealPathOf(_root)}", e.Message);
        }
        finally
        {
            Directory.Delete(outside, recursive: true);
        }
    }

    [Fact]
    public void FollowsASymlinkThatStaysInTheRoot()
    {
        Directory.CreateDirectory(PathOf("versions"));
        File.WriteAllText(PathOf("versions/v2.json"), Valid);
        File.CreateSymbolicLink(PathOf("current.json"), PathOf("versions/v2.json"));
        Assert.Equal(Valid.Length, ProfileFile.ReadAllBytes(PathOf("current.json"), _root).Length);
    }

    [Fact]
    public void RefusesADirectoryAndAMissingFile()
    {
        Assert.Contains("a directory, not a regular file", Refused(() => ProfileFile.ReadAllBytes(_root)).Message);
        Assert.Contains("file not found", Refused(() => ProfileFile.ReadAllBytes(PathOf("missing.json"))).Message);
    }

    [Fact]
    public void CountsTheBytesReadAgainstTheCap()
    {
        var big = PathOf("big.json");
        File.WriteAllBytes(big, new byte[ProfileParser.MaxProfileBytes + 1]);
        Assert.Contains($"larger than {ProfileParser.MaxProfileBytes} bytes", Refused(() => ProfileFile.ReadAllBytes(big)).Message);
        File.WriteAllBytes(big, new byte[ProfileParser.MaxProfileBytes]);
        Assert.Equal(ProfileParser.MaxProfileBytes, ProfileFile.ReadAllBytes(big).Length);
        // A small cap applies to what is read, whatever the file claims.
        Assert.Contains("larger than 10 bytes", Refused(() => ProfileFile.ReadAllBytes(PathOf("big.json"), maxBytes: 10)).Message);
    }

    [Fact]
    public void ProcFilesClaimingZeroBytesAreStillCapped()
    {
        // /proc/self/maps is a regular file whose Length is 0; only counting the bytes read catches it.
        Assert.Equal(0, new FileInfo("/proc/self/maps").Length);
        Assert.Contains("larger than 16 bytes", Refused(() => ProfileFile.ReadAllBytes("/proc/self/maps", maxBytes: 16)).Message);
    }

    [Fact]
    public async Task TheAsyncReaderAppliesTheSameRules()
    {
        File.WriteAllText(PathOf("ok.json"), Valid);
        Assert.Equal(Valid.Length, (await ProfileFile.ReadAllBytesAsync(PathOf("ok.json"), _root)).Length);
        await Assert.ThrowsAsync<ProfileFileException>(() => ProfileFile.ReadAllBytesAsync("/dev/zero"));
        var result = await ProfileParser.ParseFileAsync("/dev/urandom");
        Assert.Contains("not a regular file", result.Diagnostics.Single().Message);
    }

    [Theory]
    [InlineData("validate")]
    [InlineData("explain")]
    public void TheCliRefusesSpecialFilesAtOnce(string verb)
    {
        var fifo = PathOf("cli.json");
        Assert.Equal(0, MkFifo(fifo, Convert.ToInt32("644", 8)));
        foreach (var file in new[] { "/dev/urandom", fifo })
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            var watch = Stopwatch.StartNew();
            string[] args = verb == "validate" ? ["validate", file] : ["explain", file, "--syscall", "read"];
            Assert.Equal(1, ProfileCommand.Run(args, stdout, stderr));
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"{verb} {file} took {watch.Elapsed}");
            Assert.Contains("not a regular file", stdout.ToString() + stderr.ToString());
        }
    }

    [LibraryImport("libc", EntryPoint = "mkfifo", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MkFifo(string path, int mode);
}
