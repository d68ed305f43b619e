using System.Security.Cryptography;
using QuantPS.Gguf;
using QuantPS.Quantization;
using QuantPS.Quantization.Job;
using QuantPS.TestSupport;
using Xunit;

namespace QuantPS.Tests.Quantization.Job;

/// <summary>
/// Every row of golden/quantized/MANIFEST.tsv: 'ok' rows reproduce llama-quantize's sha256; FAILED rows refuse.
/// </summary>
public class ManifestQuantizeTests
{
    public static TheoryData<string> Rows()
    {
        var data = new TheoryData<string>();
        foreach (var row in ManifestRow.All()) data.Add(row.Output);
        if (data.Count == 0) data.Add("(manifest missing)");
        return data;
    }

    [Theory]
    [MemberData(nameof(Rows))]
    public void ReproducesLlamaQuantize(string output)
    {
        SharedData.File(ManifestRow.ManifestPath);
        var row = ManifestRow.Find(output);
        if (!row.Ok)
        {
            AssertRefused(row);
            return;
        }

        using var model = GgufModel.Open(row.InputFile);
        var plan = QuantizePlan.Create(model, QuantizeFileType.Parse(row.TypeName), row.Options());
        AssertPlannedTypes(row, plan);
        Assert.Equal(row.Size, plan.PredictedSize);

        var dir = Directory.CreateTempSubdirectory("quantps-manifest-");
        try
        {
            var path = Path.Combine(dir.FullName, row.Output);
            var result = QuantizeJob.Run(model, plan, path, cancellationToken: TestContext.Current.CancellationToken);
            Assert.Equal(row.Size, result.SizeBytes);
            Assert.Equal(row.Size, new FileInfo(path).Length);
            var sha = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path))).ToLowerInvariant();
            if (sha != row.Sha256)
            {
                Assert.Fail($"{row.Output}: sha256 {sha} != {row.Sha256}. {FirstDifference(row, path)}");
            }
        }
        finally
        {
            dir.Delete(true);
        }
    }

    /// <summary>
    /// Guards the coverage reported to the team: of 118 rows, 105 are 'ok', and every one of them only
    /// uses types we write (the synth-256 IQ1/IQ2/IQ3 mixes included).
    /// </summary>
    [Fact]
    public void Coverage_of_the_manifest()
    {
        SharedData.File(ManifestRow.ManifestPath);
        var rows = ManifestRow.All();
        var ok = rows.Where(r => r.Ok).ToList();
        int writable = 0;
        foreach (var row in ok)
        {
            using var model = GgufModel.Open(row.InputFile);
            var plan = QuantizePlan.Create(model, QuantizeFileType.Parse(row.TypeName), row.Options());
            writable += plan.Tensors.All(t => !t.IsConverted || TypeQuantizer.IsSupported(t.Type)) ? 1 : 0;
        }

        Assert.Equal((118, 105), (rows.Count, ok.Count));
        Assert.Equal(ok.Count, writable);
    }

    private static void AssertRefused(ManifestRow row)
    {
        if (row.Status.Contains("does not exist", StringComparison.Ordinal))
        {
            return; // llama-quantize had no input: nothing to reproduce
        }

        using var model = GgufModel.Open(row.InputFile);
        var e = Assert.Throws<QuantizationException>(() =>
        {
            var plan = QuantizePlan.Create(model, QuantizeFileType.Parse(row.TypeName), row.Options());
            plan.ThrowIfNotRunnable();
        });
        if (row.Status.Contains("no tensor type fallback", StringComparison.Ordinal))
        {
            Assert.Equal(QuantizeErrorIds.NoFallback, e.ErrorId);
            Assert.Contains(row.Status[(row.Status.IndexOf("no tensor", StringComparison.Ordinal))..], e.Message);
            Assert.Contains("-TensorType", e.Message);
        }
        else if (row.Status.Contains("importance matrix", StringComparison.Ordinal))
        {
            Assert.Equal(QuantizeErrorIds.ImportanceRequired, e.ErrorId);
        }
    }

    private static void AssertPlannedTypes(ManifestRow row, QuantizePlan plan)
    {
        var tsv = SharedData.File($"golden/quantized/tensor-types/{Path.GetFileNameWithoutExtension(row.Output)}.tsv");
        var expected = File.ReadAllLines(tsv).Skip(1).Where(l => l.Length > 0).Select(l => l.Split('\t')).ToList();
        var actual = plan.Tensors.Select(t => new[] { t.Name, t.Type.ToString() }).ToList();
        Assert.Equal(expected.Select(e => $"{e[0]} {e[1]}"), actual.Select(a => $"{a[0]} {a[1]}"));
    }

    // Names the first tensor (and block) whose bytes differ from the stored llama-quantize output.
    private static string FirstDifference(ManifestRow row, string path)
    {
        if (row.StoredAt == "-") return "The llama-quantize output is not stored; only its sha256.";
        using var want = GgufModel.Open(SharedData.File("golden/" + row.StoredAt));
        using var got = GgufModel.Open(path);
        var wantHeader = File.ReadAllBytes(want.Location).AsSpan(0, (int)want.Header.DataOffset);
        var gotHeader = File.ReadAllBytes(path).AsSpan(0, (int)got.Header.DataOffset);
        if (!wantHeader.SequenceEqual(gotHeader)) return $"The headers differ at byte {wantHeader.CommonPrefixLength(gotHeader)}.";
        foreach (var t in want.Tensors)
        {
            var mine = got.FindTensor(t.Name)!;
            var a = want.GetTensorData(t);
            var b = got.GetTensorData(mine);
            if (!a.SequenceEqual(b))
            {
                int at = a.CommonPrefixLength(b);
                return $"First differing tensor: {t.Name} ({t.Type}), byte {at}, block {at / t.TypeInfo.TypeSize}.";
            }
        }

        return "All tensors match; the difference is in padding.";
    }
}
