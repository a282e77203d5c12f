using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace SeccompEbpf.Nri.Tests;

/// <summary>Captures every log entry (and echoes it to the xunit output) so tests can assert on logged reasons.</summary>
internal sealed class TestLog : ILoggerProvider
{
    private readonly ITestOutputHelper? _output;
    private readonly List<(LogLevel Level, string Message)> _entries = [];
    private readonly List<(Func<string, bool> Match, TaskCompletionSource<string> Found)> _waiters = [];
    private readonly LoggerFactory _factory;

    public TestLog(ITestOutputHelper? output = null)
    {
        _output = output;
        _factory = new LoggerFactory([this]);
    }

    public ILogger<T> For<T>() => _factory.CreateLogger<T>();

    public ILogger Logger(string category) => _factory.CreateLogger(category);

    public IReadOnlyList<string> Messages
    {
        get
        {
            lock (_entries)
            {
                return _entries.Select(e => e.Message).ToArray();
            }
        }
    }

    public IReadOnlyList<(LogLevel Level, string Message)> Entries
    {
        get
        {
            lock (_entries)
            {
                return _entries.ToArray();
            }
        }
    }

    /// <summary>Completes with the first entry (already logged or future) that contains every fragment.</summary>
    public Task<string> WaitForAsync(params string[] fragments)
    {
        bool Match(string m) => fragments.All(f => m.Contains(f, StringComparison.Ordinal));
        lock (_entries)
        {
            foreach ((_, string message) in _entries)
            {
                if (Match(message))
                {
                    return Task.FromResult(message);
                }
            }

            var found = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((Match, found));
            return found.Task.WaitAsync(TimeSpan.FromSeconds(15));
        }
    }

    public ILogger CreateLogger(string categoryName) => new Entry(this, categoryName);

    public void Dispose()
    {
    }

    private void Add(LogLevel level, string category, string message)
    {
        lock (_entries)
        {
            _entries.Add((level, message));
            foreach ((Func<string, bool> match, TaskCompletionSource<string> found) in _waiters.ToArray())
            {
                if (match(message))
                {
                    found.TrySetResult(message);
                    _waiters.Remove((match, found));
                }
            }
        }

        try
        {
            _output?.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {level,-11} {category}: {message}");
        }
        catch (InvalidOperationException)
        {
            // The test already finished; xunit refuses late output.
        }
    }

    private sealed class Entry(TestLog log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => log.Add(logLevel, category, formatter(state, exception) + (exception is null ? "" : $" [{exception.GetType().Name}: {exception.Message}]"));
    }
}
