using QuantPS.Gguf;
using QuantPS.Kernels;
using Xunit;

namespace QuantPS.Tests.Gguf;

/// <summary>Opening a model costs its header, not its size: a sparse 100 GB file opens like a 1 MB one.</summary>
public sealed class LargeFileTests
{
    [Fact]
    public unsafe void A_sparse_100_GB_file_opens_at_the_cost_of_its_header()
    {
        using var temp = new TempFolder();
        var path = temp.File("huge.gguf");
        // 25 billion F32 values = 100 GB of tensor data, in 4 tensors of 25 GB.
        var specs = Enumerable.Range(0, 4).Select(i => new GgufTensorSpec($"blk.{i}.w", GgmlType.F32, [65536, 95368])).ToArray();
        var plan = GgufLayout.Plan([GgufMetadataEntry.Of("general.architecture", "llama")], specs);
        using (var stream = new FileStream(path, FileMode.CreateNew))
        {
            stream.Write(plan.Header);
            stream.SetLength(plan.FileLength); // sparse: the filesystem stores only the header
        }

        Assert.True(plan.FileLength > 100_000_000_000L);
        var before = GC.GetAllocatedBytesForCurrentThread();
        using var model = GgufModel.Open(path);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(plan.FileLength, model.FileLength);
        Assert.Equal(4, model.Tensors.Count);
        Assert.True(allocated < 256 * 1024, $"opening allocated {allocated} bytes");

        // The last byte of the last tensor, 100 GB in, is reachable through the mapping (64-bit offsets).
        var last = model.Tensors[^1];
        var end = model.GetTensorPointer(last) + last.SizeBytes - 1;
        Assert.Equal(0, *end);
        Assert.True(model.Header.AbsoluteOffset(last) > uint.MaxValue);
    }
}
