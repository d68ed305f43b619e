using QuantPS.Gguf;
using QuantPS.Kernels;
using QuantPS.Quantization;
using QuantPS.Quantization.Job;
using QuantPS.TestSupport;
using Xunit;

namespace QuantPS.Tests.Quantization.Job;

/// <summary>The job's contract beyond the bytes: atomicity, cancellation, progress, refusals, metadata.</summary>
public sealed class QuantizeJobTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("quantps-job-");

    private static string Stories => SharedData.File("models/tinyllamas-stories260K/stories260K.gguf");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Delete(true);

    private string Out(string name) => Path.Combine(_dir.FullName, name);

    [Fact]
    public void PlanPredictsTheSizeAndReportsFallbacks()
    {
        using var model = GgufModel.Open(Stories);
        var plan = QuantizePlan.Create(model, QuantizeFileType.Parse("q4_k_m"));
        Assert.Equal("Q4_K_M", plan.FileType.Name);
        Assert.Equal(15u, plan.FileTypeId);
        Assert.Equal(304096, plan.PredictedSize);
        Assert.True(plan.FallbackCount > 0);
        Assert.Equal("output.weight", plan.Tensors[0].Name); // llama.cpp's order: non-layer tensors first
        Assert.Equal(GgmlType.F16, plan.Tensors.Single(t => t.Name == "blk.0.ffn_down.weight").Type);
        Assert.Equal(GgmlType.F32, plan.Tensors.Single(t => t.Name == "blk.0.attn_norm.weight").Type);
    }

    [Fact]
    public void NoFallbackNamesTheTensorAndSuggestsTensorType()
    {
        using var model = GgufModel.Open(Stories);
        var e = Assert.Throws<QuantizationException>(() => QuantizePlan.Create(model, QuantizeFileType.Parse("Q8_0")));
        Assert.Equal(QuantizeErrorIds.NoFallback, e.ErrorId);
        Assert.Contains("no tensor type fallback is defined for type q8_0", e.Message);
        Assert.Contains("blk.0.ffn_down.weight", e.Message);
        Assert.Contains("-TensorType @{'ffn_down'='f16'}", e.Message);
    }

    [Fact]
    public void UnknownTypeIsRefused()
    {
        var e = Assert.Throws<QuantizationException>(() => QuantizeFileType.Parse("Q4_K_X"));
        Assert.Equal(QuantizeErrorIds.UnknownType, e.ErrorId);
        Assert.Contains("Q4_K_M", e.Message);
    }

    [Fact]
    public void ProgressCountsEveryTensorAndByte()
    {
        using var model = GgufModel.Open(Stories);
        var plan = QuantizePlan.Create(model, QuantizeFileType.Parse("Q6_K"));
        var reports = new List<QuantizeProgress>();
        var result = QuantizeJob.Run(model, plan, Out("a.gguf"), progress: reports.Add, cancellationToken: Ct);
        Assert.Equal(plan.PredictedSize, new FileInfo(result.OutputPath).Length);
        var last = reports[^1];
        Assert.Equal(plan.Tensors.Count, last.TensorsDone);
        Assert.Equal(plan.Tensors.Sum(t => t.SizeBytes), last.BytesDone);
        Assert.Equal(last.BytesTotal, last.BytesDone);
    }

    [Fact]
    public void CancellationLeavesNoFile()
    {
        using var model = GgufModel.Open(Stories);
        var plan = QuantizePlan.Create(model, QuantizeFileType.Parse("Q4_K_M"));
        using var cts = new CancellationTokenSource();
        var target = Out("cancelled.gguf");
        Assert.ThrowsAny<OperationCanceledException>(() => QuantizeJob.Run(model, plan, target,
            progress: p => { if (p.TensorsDone == 5) cts.Cancel(); }, cancellationToken: cts.Token));
        Assert.Empty(_dir.GetFiles("*", SearchOption.AllDirectories));
    }

    [Fact]
    public void ExistingOutputNeedsOverwriteAndInputIsNeverTheOutput()
    {
        using var model = GgufModel.Open(Stories);
        var plan = QuantizePlan.Create(model, QuantizeFileType.Parse("F16"));
        var target = Out("x.gguf");
        File.WriteAllText(target, "keep");
        var e = Assert.Throws<GgufException>(() => QuantizeJob.Run(model, plan, target, cancellationToken: Ct));
        Assert.Equal(GgufErrorKind.OutputExists, e.Kind);
        Assert.Equal("keep", File.ReadAllText(target));
        QuantizeJob.Run(model, plan, target, overwrite: true, cancellationToken: Ct);
        Assert.Equal(plan.PredictedSize, new FileInfo(target).Length);

        var same = Assert.Throws<QuantizationException>(() => QuantizeJob.Run(model, plan, Stories, overwrite: true, cancellationToken: Ct));
        Assert.Equal(QuantizeErrorIds.SameFile, same.ErrorId);
    }

    [Fact]
    public void QuantizedInputNeedsAllowRequantize()
    {
        var q8 = SharedData.File("golden/quantized/stories260K/stories260K-Q8_0-ffn_down-f16.gguf");
        using var model = GgufModel.Open(q8);
        var plan = QuantizePlan.Create(model, QuantizeFileType.Parse("Q4_K_M"));
        var e = Assert.Throws<QuantizationException>(() => QuantizeJob.Run(model, plan, Out("r.gguf"), cancellationToken: Ct));
        Assert.Equal(QuantizeErrorIds.RequantizeDisabled, e.ErrorId);
        Assert.Contains("requantizing from type q8_0 is disabled", e.Message);
        Assert.Empty(_dir.GetFiles());
    }

    [Fact]
    public void OverridesGoAfterTheFileTypeKeysAndTheBytesIgnoreThreads()
    {
        using var model = GgufModel.Open(Stories);
        var options = new QuantizeOptions { OverrideMetadata = new[] { GgufMetadataEntry.Of("general.name", "tiny"), GgufMetadataEntry.Of("x.count", 3u) }, Threads = 1 };
        var one = QuantizeJob.Run(model, QuantizePlan.Create(model, QuantizeFileType.Parse("Q5_K_S"), options), Out("1.gguf"), cancellationToken: Ct);
        var many = QuantizeJob.Run(model, QuantizePlan.Create(model, QuantizeFileType.Parse("Q5_K_S"), new QuantizeOptions { OverrideMetadata = options.OverrideMetadata, Threads = 8 }), Out("8.gguf"), cancellationToken: Ct);
        Assert.Equal(File.ReadAllBytes(one.OutputPath), File.ReadAllBytes(many.OutputPath));
        using var written = GgufModel.Open(one.OutputPath);
        var keys = written.Metadata.Select(m => m.Key).TakeLast(4).ToArray();
        Assert.Equal(new[] { "general.quantization_version", "general.file_type", "general.name", "x.count" }, keys);
        Assert.Equal("tiny", written.Metadata.GetString("general.name"));
    }

    [Fact]
    public void TypesWithoutAQuantizerPlanButRefuseToRun()
    {
        // Every file type's tensor types are written now; an override can still name an activation-only type.
        using var model = GgufModel.Open(SharedData.File("golden/models/synth-256.gguf"));
        var options = new QuantizeOptions { TensorTypes = [new("attn_v", GgmlType.Q8_K)] };
        var plan = QuantizePlan.Create(model, QuantizeFileType.Parse("Q4_K_M"), options);
        Assert.Contains(plan.Tensors, t => t.Type == GgmlType.Q8_K);
        var e = Assert.Throws<QuantizationException>(() => QuantizeJob.Run(model, plan, Out("q8k.gguf"), cancellationToken: Ct));
        Assert.Equal(QuantizeErrorIds.TypeNotSupported, e.ErrorId);
        Assert.Contains("not yet supported", e.Message);
        Assert.Empty(_dir.GetFiles());
    }

    [Fact]
    public void ATensorTheImatrixLacksIsRefusedBeforeWritingWhenItsTypeNeedsOne()
    {
        // --pure IQ2_XXS turns output.weight into iq2_xxs too; the imatrix has no entry for it
        // (llama-quantize fails an assertion in ggml there). Refuse before writing, naming the tensor.
        using var model = GgufModel.Open(SharedData.File("golden/models/synth-256.gguf"));
        var matrix = ImportanceMatrix.Load(SharedData.File("golden/imatrix/synth-256.imatrix.gguf"));
        var plan = QuantizePlan.Create(model, QuantizeFileType.Parse("IQ2_XXS"), new QuantizeOptions { ImportanceMatrix = matrix, Pure = true });
        var e = Assert.Throws<QuantizationException>(() => QuantizeJob.Run(model, plan, Out("pure.gguf"), cancellationToken: Ct));
        Assert.Equal(QuantizeErrorIds.ImportanceRequired, e.ErrorId);
        Assert.Contains("output.weight", e.Message);
        Assert.Empty(_dir.GetFiles());
    }

    [Fact]
    public void AQuantizerRefusalInsideTheParallelLoopKeepsItsErrorIdAndLeavesNoFile()
    {
        // A NaN defeats IQ3_S's lattice search (ggml aborts on an assertion); the job must surface the
        // quantizer's QuantizationException itself, not Parallel.For's AggregateException.
        using var synth = GgufModel.Open(SharedData.File("golden/models/synth-256.gguf"));
        var input = Out("nan.gguf");
        GgufWriter.Write(input, synth.Metadata, synth.Tensors.Select(GgufTensorSpec.From).ToList(), i =>
        {
            var data = synth.GetTensorData(synth.Tensors[i]).ToArray();
            if (synth.Tensors[i].Name == "blk.1.attn_q.weight")
            {
                data[2 * 300] = 0x00;
                data[2 * 300 + 1] = 0x7E; // f16 NaN
            }

            return data;
        });
        using var model = GgufModel.Open(input);
        var plan = QuantizePlan.Create(model, QuantizeFileType.Parse("IQ3_S"));
        var e = Assert.Throws<QuantizationException>(() => QuantizeJob.Run(model, plan, Out("iq3s.gguf"), cancellationToken: Ct));
        Assert.Equal(QuantizationErrorIds.GridSearchFailed, e.ErrorId);
        Assert.False(File.Exists(Out("iq3s.gguf")));
        Assert.Single(_dir.GetFiles()); // only the input
    }

    [Fact]
    public void LatticeMixesGiveTheSameBytesOnOneThreadAndMany()
    {
        // The job spreads rows over threads; the lattice quantizers share only their lazily built grids.
        using var model = GgufModel.Open(SharedData.File("golden/models/synth-256.gguf"));
        var matrix = ImportanceMatrix.Load(SharedData.File("golden/imatrix/synth-256.imatrix.gguf"));
        foreach (var type in new[] { "IQ2_M", "IQ1_M", "IQ3_XS" })
        {
            var one = QuantizeJob.Run(model, QuantizePlan.Create(model, QuantizeFileType.Parse(type), new QuantizeOptions { ImportanceMatrix = matrix, Threads = 1 }),
                Out($"{type}-1.gguf"), cancellationToken: Ct);
            var many = QuantizeJob.Run(model, QuantizePlan.Create(model, QuantizeFileType.Parse(type), new QuantizeOptions { ImportanceMatrix = matrix, Threads = 8 }),
                Out($"{type}-8.gguf"), cancellationToken: Ct);
            Assert.Equal(File.ReadAllBytes(one.OutputPath), File.ReadAllBytes(many.OutputPath));
        }
    }

    [Fact]
    public void IncludeAndExcludeWeightsFilterTheImatrixAndDoNotMix()
    {
        using var model = GgufModel.Open(Stories);
        var matrix = ImportanceMatrix.Load(SharedData.File("golden/imatrix/stories260K.imatrix.gguf"));
        var plan = QuantizePlan.Create(model, QuantizeFileType.Parse("Q4_K_M"), new QuantizeOptions { ImportanceMatrix = matrix, IncludeWeights = ["attn_q"] });
        Assert.All(plan.Tensors.Where(t => t.UsesImportance), t => Assert.Contains("attn_q", t.Name));
        Assert.Equal(5u, plan.Metadata.Single(m => m.Key == "quantize.imatrix.entries_count").Value);
        var e = Assert.Throws<QuantizationException>(() => QuantizePlan.Create(model, QuantizeFileType.Parse("Q4_K_M"),
            new QuantizeOptions { ImportanceMatrix = matrix, IncludeWeights = ["attn_q"], ExcludeWeights = ["ffn"] }));
        Assert.Equal(QuantizeErrorIds.BadOverride, e.ErrorId);
    }

    [Fact]
    public void LowBitMixWithoutImatrixIsRefused()
    {
        using var model = GgufModel.Open(SharedData.File("golden/models/synth-256.gguf"));
        var e = Assert.Throws<QuantizationException>(() => QuantizePlan.Create(model, QuantizeFileType.Parse("IQ2_XS")));
        Assert.Equal(QuantizeErrorIds.ImportanceRequired, e.ErrorId);
    }
}
