using System.Globalization;

namespace SeccompEbpf.Nri;

/// <summary>How the plugin identifies itself and reaches the runtime.</summary>
public sealed class NriPluginOptions
{
    /// <summary>Environment variable holding the inherited socket fd of a pre-installed plugin.</summary>
    public const string SocketEnvironmentVariable = "NRI_PLUGIN_SOCKET";

    /// <summary>Environment variable holding the plugin name given by the runtime.</summary>
    public const string NameEnvironmentVariable = "NRI_PLUGIN_NAME";

    /// <summary>Environment variable holding the two-digit plugin index given by the runtime.</summary>
    public const string IndexEnvironmentVariable = "NRI_PLUGIN_IDX";

    /// <summary>Plugin name; NRI 0.12 runtimes require <c>[a-zA-Z0-9_.+-]+</c>.</summary>
    public string Name { get; set; } = "seccomp-ebpf";

    /// <summary>Two ASCII digits; sets the invocation order among plugins.</summary>
    public string Index { get; set; } = "10";

    /// <summary>The runtime's NRI socket (external mode).</summary>
    public string SocketPath { get; set; } = "/var/run/nri/nri.sock";

    /// <summary>A connected socket fd inherited from the runtime; when set the plugin runs in pre-installed mode.</summary>
    public int? InheritedSocketFd { get; set; }

    /// <summary>First wait before reconnecting (external mode); doubles up to <see cref="ReconnectMaxDelay"/>.</summary>
    public TimeSpan ReconnectInitialDelay { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Longest wait between reconnection attempts.</summary>
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long to wait for the runtime's reply to RegisterPlugin and UpdateContainers.</summary>
    public TimeSpan RuntimeCallTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Options from the environment, as the Go stub does it: a pre-installed plugin gets <c>NRI_PLUGIN_SOCKET</c>
    /// (an fd), <c>NRI_PLUGIN_NAME</c> and <c>NRI_PLUGIN_IDX</c>; otherwise name and index come from the
    /// executable's basename <c>NN-name</c> when it has that form. <paramref name="socketPathOverride"/> replaces
    /// the default socket path (the inherited fd still wins when present).
    /// </summary>
    public static NriPluginOptions FromEnvironment(string? socketPathOverride = null)
        => FromEnvironment(Environment.GetEnvironmentVariable, ReadArgv0(), socketPathOverride);

    internal static NriPluginOptions FromEnvironment(Func<string, string?> getEnvironment, string? argv0, string? socketPathOverride)
    {
        var options = new NriPluginOptions();
        if (!string.IsNullOrEmpty(socketPathOverride))
        {
            options.SocketPath = socketPathOverride;
        }

        string? fd = getEnvironment(SocketEnvironmentVariable);
        if (!string.IsNullOrEmpty(fd))
        {
            if (!int.TryParse(fd, NumberStyles.None, CultureInfo.InvariantCulture, out int number))
            {
                throw new ArgumentException($"{SocketEnvironmentVariable}=\"{fd}\" is not a file descriptor number");
            }

            options.InheritedSocketFd = number;
        }

        (string Index, string Name)? fromArgv0 = TryParsePluginFileName(argv0);
        string? name = getEnvironment(NameEnvironmentVariable);
        string? index = getEnvironment(IndexEnvironmentVariable);
        options.Name = !string.IsNullOrEmpty(name) ? name : fromArgv0?.Name ?? options.Name;
        options.Index = !string.IsNullOrEmpty(index) ? index : fromArgv0?.Index ?? options.Index;
        return options;
    }

    /// <summary>Splits a plugin file name <c>NN-name</c> (path allowed) at the first '-'; null if it does not have that form.</summary>
    internal static (string Index, string Name)? TryParsePluginFileName(string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return null;
        }

        string baseName = Path.GetFileName(path);
        int dash = baseName.IndexOf('-', StringComparison.Ordinal);
        if (dash != 2 || baseName.Length == 3 || !char.IsAsciiDigit(baseName[0]) || !char.IsAsciiDigit(baseName[1]))
        {
            return null;
        }

        return (baseName[..2], baseName[3..]);
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the bad value.</summary>
    internal void Validate()
    {
        if (Index.Length != 2 || !char.IsAsciiDigit(Index[0]) || !char.IsAsciiDigit(Index[1]))
        {
            throw new ArgumentException($"plugin index \"{Index}\" must be exactly two digits");
        }

        if (Name.Length == 0 || !Name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '+' or '-'))
        {
            throw new ArgumentException($"plugin name \"{Name}\" must match [a-zA-Z0-9_.+-]+");
        }

        if (InheritedSocketFd is < 0)
        {
            throw new ArgumentException($"inherited socket fd {InheritedSocketFd} is negative");
        }

        if (InheritedSocketFd is null && string.IsNullOrEmpty(SocketPath))
        {
            throw new ArgumentException("either SocketPath or InheritedSocketFd is required");
        }

        if (ReconnectInitialDelay <= TimeSpan.Zero || ReconnectMaxDelay < ReconnectInitialDelay)
        {
            throw new ArgumentException($"reconnect delays must satisfy 0 < initial ({ReconnectInitialDelay}) <= max ({ReconnectMaxDelay})");
        }

        if (RuntimeCallTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"RuntimeCallTimeout {RuntimeCallTimeout} must be positive");
        }
    }

    // The real argv[0]: the runtime execs the NN-name path (often a symlink), which ProcessPath would resolve away.
    private static string? ReadArgv0()
    {
        try
        {
            byte[] cmdline = File.ReadAllBytes("/proc/self/cmdline");
            int end = Array.IndexOf(cmdline, (byte)0);
            return System.Text.Encoding.UTF8.GetString(cmdline, 0, end < 0 ? cmdline.Length : end);
        }
        catch (IOException)
        {
            return Environment.GetCommandLineArgs().FirstOrDefault();
        }
        catch (UnauthorizedAccessException)
        {
            return Environment.GetCommandLineArgs().FirstOrDefault();
        }
    }
}
