using Microsoft.CodeAnalysis;

namespace QuantPS.Generators.Tests;

/// <summary>Grid tables (QPSG016) and grid descriptions (QPSG017) that do not add up, each reported where it is written.</summary>
public sealed class GridDiagnosticTests
{
    private const string SignBits = "[Bits(BitRole.SignBits, \"Signs\", 1)]";

    /// <summary>(case, source, expected id, start of the source text the diagnostic points at).</summary>
    public static TheoryData<string, string, string, string> BadSamples => new()
    {
        { "a grid nobody declared", GridSamples.Replace("Grid = \"T16\"", "Grid = \"T17\""), "QPSG016", "GridIndex(" },
        { "a grid declared twice", GridSamples.Source + "\n[Grid(\"T16\", valuesPerEntry: 1, 0, 1)]\ninternal static class More;", "QPSG016", "Grid(\"T16\", valuesPerEntry: 1" },
        { "nine values per entry", GridSamples.Replace("valuesPerEntry: 8", "valuesPerEntry: 9"), "QPSG016", "Grid(" },
        { "entries wider than their values", GridSamples.Replace("valuesPerEntry: 8", "valuesPerEntry: 4"), "QPSG016", "Grid(" },
        { "index bits that miss entries", GridSamples.Replace("[Bits(BitRole.GridIndex, \"Qs\", 4)]", "[Bits(BitRole.GridIndex, \"Qs\", 3, Step = 4)]"), "QPSG017", "Reconstruct(" },
        { "a part naming no field", GridSamples.Replace(SignBits, "[Bits(BitRole.SignBits, \"Sings\", 1)]"), "QPSG017", "Bits(BitRole.SignBits" },
        { "a part reading past its field", GridSamples.Replace("Per = 32)]", "Per = 32, Start = 4)]"), "QPSG017", "Bits(BitRole.SubScale" },
        { "a sub-scale without Per", GridSamples.Replace(", Per = 32)]", ")]"), "QPSG017", "Bits(BitRole.SubScale" },
        { "sign bits of two bits", GridSamples.Replace(SignBits, "[Bits(BitRole.SignBits, \"Signs\", 2)]"), "QPSG017", "Bits(BitRole.SignBits" },
        { "unsigned values without signs", GridSamples.Replace(SignBits, ""), "QPSG017", "Reconstruct(" },
        { "a sign pattern without its table", GridSamples.Replace(SignBits, "[Bits(BitRole.SignPattern, \"Signs\", 7, Step = 8)]"), "QPSG017", "Bits(BitRole.SignPattern" },
        { "a multiplier that is not a power of two", GridSamples.Replace("Multiplier = 0.5", "Multiplier = 0.3"), "QPSG017", "Reconstruct(" },
        { "a delta sign without a delta", GridSamples.Replace(SignBits, SignBits + "[Bits(BitRole.DeltaSign, \"Scales\", 1, Per = 32)]"), "QPSG017", "Reconstruct(" },
        { "an offset on the grid scheme", GridSamples.Replace("ValueScheme.Grid,", "ValueScheme.Grid, Offset = -1,"), "QPSG017", "Reconstruct(" },
        { "parts on another scheme", GridSamples.Replace("ValueScheme.Grid, Multiplier = 0.5", "ValueScheme.Scaled"), "QPSG017", "Bits(BitRole.GridIndex" },
        { "a grid multiplier on another scheme", "namespace QuantPS.Kernels.Formats;\n" + GridSamples.Q8_K.Replace("[Reconstruct(ValueScheme.Scaled)]", "[Reconstruct(ValueScheme.Scaled, Multiplier = 0.5)]", StringComparison.Ordinal), "QPSG010", "Reconstruct(" },
    };

    [Fact]
    public void The_sample_grid_description_is_accepted()
    {
        var (result, output) = GeneratorHarness.Run(GridSamples.Source);

        Assert.Empty(result.Diagnostics);
        Assert.Empty(GeneratorHarness.Errors(output));
        Assert.Contains("(Grid family; dot product with Q8_K)", GeneratorHarness.GeneratedText(result, "QuantPS.Kernels.Generated.IQ2_TKernels.g.cs"));
    }

    [Theory]
    [MemberData(nameof(BadSamples))]
    public void Bad_grid_declaration_is_reported_where_it_is_written(string why, string source, string expectedId, string expectedTextStart)
    {
        var (result, output) = GeneratorHarness.Run(source);

        var pointedAt = result.Diagnostics.Where(d => d.Id == expectedId).Select(d =>
        {
            var tree = output.SyntaxTrees.Single(t => t.FilePath == d.Location.GetLineSpan().Path);
            return tree.GetText(TestContext.Current.CancellationToken).ToString(d.Location.SourceSpan);
        }).ToList();
        Assert.True(
            pointedAt.Any(text => text.StartsWith(expectedTextStart, StringComparison.Ordinal)),
            $"{why}: expected {expectedId} at '{expectedTextStart}', got [{string.Join(", ", result.Diagnostics)}]");
        Assert.All(result.Diagnostics, d => Assert.Equal(DiagnosticSeverity.Error, d.Severity));

        // A rejected description still compiles: its struct and the table are emitted, its kernels are not (a second
        // declaration of a grid is what is rejected there; the type keeps the first).
        Assert.Empty(GeneratorHarness.Errors(output));
        if (!why.EndsWith("declared twice", StringComparison.Ordinal))
        {
            Assert.DoesNotContain(result.GeneratedSources, source => source.HintName.Contains("IQ2_TKernels", StringComparison.Ordinal));
        }
    }
}
