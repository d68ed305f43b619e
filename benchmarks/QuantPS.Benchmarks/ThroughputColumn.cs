using System.Globalization;
using System.Reflection;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace QuantPS.Benchmarks;

/// <summary>
/// Figures derived from the best iteration's time per operation: on a shared machine other processes only ever slow
/// an iteration down, so the fastest is the closest to what a quiet machine gives (test-backend-ops figures are
/// likewise taken as the best of several runs) and the benchmark's <see cref="IWorkload"/>, printed as plain numbers (no unit
/// in the cell) so the CSV report can be read back by <see cref="Report"/>.
/// </summary>
public sealed class ThroughputColumn : IColumn
{
    public static readonly IColumn Microseconds = new ThroughputColumn("us/op", "Microseconds per operation in the best iteration", (_, ns) => ns / 1000);
    public static readonly IColumn GigabytesPerSecond = new ThroughputColumn("GB/s", "Bytes read per second / 1e9, at the best iteration's time", (w, ns) => w.BytesPerOperation / ns);
    public static readonly IColumn GigaflopsPerSecond = new ThroughputColumn("GFLOP/s", "Floating-point operations (2 per multiply-add) per second / 1e9, at the best iteration's time", (w, ns) => w.FlopsPerOperation / ns);

    private readonly Func<IWorkload, double, double> _value;

    private ThroughputColumn(string name, string legend, Func<IWorkload, double, double> value)
    {
        ColumnName = name;
        Legend = legend;
        _value = value;
    }

    public string Id => nameof(ThroughputColumn) + "." + ColumnName;

    public string ColumnName { get; }

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend { get; }

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, summary.Style);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var best = summary[benchmarkCase]?.ResultStatistics?.Min;
        var value = best is > 0 && Workload(benchmarkCase) is { } workload ? _value(workload, best.Value) : 0;
        return value > 0 ? value.ToString("F2", CultureInfo.InvariantCulture) : "-";
    }

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public bool IsAvailable(Summary summary) => true;

    public override string ToString() => ColumnName;

    // A fresh instance with the case's parameters set: IWorkload needs no setup.
    private static IWorkload? Workload(BenchmarkCase benchmarkCase)
    {
        if (Activator.CreateInstance(benchmarkCase.Descriptor.Type) is not IWorkload workload)
        {
            return null;
        }

        foreach (var parameter in benchmarkCase.Parameters.Items)
        {
            var type = benchmarkCase.Descriptor.Type;
            if (type.GetProperty(parameter.Name, BindingFlags.Public | BindingFlags.Instance) is { } property)
            {
                property.SetValue(workload, parameter.Value);
            }
            else
            {
                type.GetField(parameter.Name, BindingFlags.Public | BindingFlags.Instance)?.SetValue(workload, parameter.Value);
            }
        }

        return workload;
    }
}
