using System.Diagnostics;
using System.Globalization;

namespace QuantPS.Benchmarks;

/// <summary>A child process under /usr/bin/time: its standard output, wall seconds and peak resident memory.</summary>
public static class TimedProcess
{
    /// <exception cref="InvalidOperationException">The command failed, or /usr/bin/time printed no figures.</exception>
    public static (string Output, double Seconds, long PeakKiB) Run(string[] command)
    {
        var start = new ProcessStartInfo("/usr/bin/time") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-f");
        start.ArgumentList.Add("QPS_TIME %e %M");
        foreach (var a in command) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var errors = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        var text = errors.Result;
        var line = text.Split('\n').LastOrDefault(l => l.StartsWith("QPS_TIME ", StringComparison.Ordinal));
        if (process.ExitCode != 0 || line is null)
        {
            throw new InvalidOperationException($"{command[0]} failed ({process.ExitCode}): {text[^Math.Min(text.Length, 2000)..]}");
        }

        var parts = line.Split(' ');
        return (output, double.Parse(parts[1], CultureInfo.InvariantCulture), long.Parse(parts[2], CultureInfo.InvariantCulture));
    }
}
