using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace SeccompEbpf.Bpf.Interop;

/// <summary>Routes libbpf's print callback to an ILogger; keeps the last warning per thread for error reasons.</summary>
internal static unsafe class LibbpfLog
{
    private static ILogger? s_logger;
    [ThreadStatic] private static List<string>? t_capture;

    internal static void Install(ILoggerFactory loggers)
    {
        s_logger = loggers.CreateLogger("libbpf");
        Interop.Libbpf.SetPrint(&Print);
    }

    /// <summary>Collects libbpf's messages on this thread until disposed (verifier logs, refusal reasons).</summary>
    internal static Capture BeginCapture() => new();

    internal sealed class Capture : IDisposable
    {
        private readonly List<string>? _previous = t_capture;
        internal Capture() => t_capture = Lines;
        internal List<string> Lines { get; } = [];
        public void Dispose() => t_capture = _previous;

        /// <summary>The most telling line (a verifier or libbpf complaint), or null when libbpf said nothing useful.</summary>
        internal string? Summary()
            => Lines.Select(l => l.Trim()).LastOrDefault(l => l.Length > 0
                && !l.StartsWith("-- ", StringComparison.Ordinal)
                && !l.StartsWith("libbpf: failed to load object", StringComparison.Ordinal)
                && !l.Contains("failed to load: -", StringComparison.Ordinal)
                && !l.StartsWith("processed ", StringComparison.Ordinal)
                && !l.Contains("permission error while running as root", StringComparison.Ordinal));
    }

    [UnmanagedCallersOnly]
    private static int Print(int level, byte* format, nint arguments)
    {
        try
        {
            byte* buffer = null;
            int length = Interop.LibC.VasPrintf(&buffer, format, arguments);
            if (length < 0)
                return 0;
            string text;
            try
            {
                text = Marshal.PtrToStringUTF8((nint)buffer, length).TrimEnd('\n');
            }
            finally
            {
                Interop.LibC.Free(buffer);
            }
            t_capture?.AddRange(text.Split('\n'));
            // LIBBPF_WARN=0, LIBBPF_INFO=1, LIBBPF_DEBUG=2
            var logLevel = level switch { 0 => LogLevel.Warning, 1 => LogLevel.Information, _ => LogLevel.Debug };
            // probes fail on purpose; their warnings are captured and reported, not logged as warnings
            if (t_capture is not null && logLevel == LogLevel.Warning)
                logLevel = LogLevel.Debug;
            s_logger?.Log(logLevel, "{LibbpfMessage}", text);
        }
        catch
        {
            // never let an exception cross into native code
        }
        return 0;
    }
}
