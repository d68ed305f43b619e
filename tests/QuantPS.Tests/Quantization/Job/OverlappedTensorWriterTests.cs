using QuantPS.Quantization.Job;
using Xunit;

namespace QuantPS.Tests.Quantization.Job;

/// <summary>The job's background writer: bytes in submission order, failures surface on the job's thread, no hang.</summary>
public sealed class OverlappedTensorWriterTests
{
    [Fact]
    public void BytesArriveInSubmissionOrder()
    {
        var written = new MemoryStream();
        var expected = new MemoryStream();
        using (var writer = new OverlappedTensorWriter(bytes =>
        {
            Thread.Sleep(bytes.Length % 3); // uneven write times, so the queue fills and drains
            written.Write(bytes);
        }))
        {
            for (int i = 0; i < 200; i++)
            {
                int length = 1 + (i * 37 % 500);
                var buffer = writer.Rent(length);
                for (int j = 0; j < length; j++) buffer[j] = (byte)(i + j);
                expected.Write(buffer, 0, length);
                writer.Submit(buffer, length);
            }

            writer.Flush();
            Assert.Equal(expected.ToArray(), written.ToArray());
        }
    }

    [Fact]
    public async Task AWriteFailureSurfacesOnTheNextRentOrFlushAndDisposeReturns()
    {
        int calls = 0;
        var writer = new OverlappedTensorWriter(_ =>
        {
            if (++calls == 3) throw new IOException("No space left on device");
        });
        var failure = Assert.Throws<IOException>(() =>
        {
            for (int i = 0; i < 100; i++)
            {
                var buffer = writer.Rent(16);
                writer.Submit(buffer, 16);
            }

            writer.Flush();
        });
        Assert.Equal("No space left on device", failure.Message);
        Assert.True(calls < 100, "writes after the failure are dropped");
        // Dispose joins the writer thread: it must return, not hang on the dropped writes.
        await Task.Run(writer.Dispose, TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
    }

    [Fact]
    public void RentGrowsABufferThatIsTooSmall()
    {
        using var writer = new OverlappedTensorWriter(_ => { });
        var small = writer.Rent(8);
        writer.Submit(small, 8);
        writer.Flush();
        Assert.True(writer.Rent(4096).Length >= 4096);
    }
}
