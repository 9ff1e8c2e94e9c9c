// Turns any photo the browser can decode into a JPEG the API accepts.
//
// The browser applies the EXIF orientation while decoding
// (createImageBitmap's imageOrientation "from-image"), the canvas re-encodes
// without metadata (no GPS position leaves the phone), and the result is
// shrunk until it fits the tightest limits of the API:
//
// - longest side at most 2048 px (the embedding model of provisional answers takes no
//   more: Titan Multimodal Embeddings G1; DetectCustomLabels would take 4096) and at
//   least MIN_SIDE px on the shortest
//   side, aspect ratio at most 20:1 (DetectCustomLabels; the face APIs need
//   80 px: https://docs.aws.amazon.com/rekognition/latest/customlabels-dg/limits.html,
//   https://docs.aws.amazon.com/rekognition/latest/dg/limits.html);
// - at most 4 MB of JPEG, the image-bytes limit of DetectCustomLabels, so
//   the same photo also fits the 5 MB of the face APIs and the API's base64
//   path (the upload path would allow 15 MB).

export const LIMITS = Object.freeze({
  maxSide: 2048,
  maxBytes: 4 * 1024 * 1024,
  maxAspectRatio: 20,
  minSide: Object.freeze({ labels: 64, search: 80, analyze: 80, codes: 32 }),
});

const QUALITIES = [0.92, 0.85, 0.75, 0.65, 0.55];

/** A photo the page will not send, with the limit it breaks. */
export class ImageRejected extends Error {
  constructor(code, details) {
    super(code);
    this.code = code;
    this.details = details;
  }
}

function encode(canvas, quality) {
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("encoding failed"))), "image/jpeg", quality);
  });
}

/**
 * Decode, orient, shrink and re-encode a photo.
 *
 * @param {Blob} file the chosen or captured photo (any size; 50 MP is fine)
 * @param {"labels"|"search"|"analyze"|"codes"} mode decides the minimum side
 * @returns {Promise<{blob: Blob, width: number, height: number,
 *   originalWidth: number, originalHeight: number}>} a JPEG within LIMITS
 * @throws {ImageRejected} unsupported_format, image_too_small,
 *   image_aspect_ratio or image_too_large
 */
export async function prepareImage(file, mode) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    throw new ImageRejected("unsupported_format", { detail: file.type || file.name || "?" });
  }
  const originalWidth = bitmap.width;
  const originalHeight = bitmap.height;
  try {
    const long = Math.max(originalWidth, originalHeight);
    const short = Math.min(originalWidth, originalHeight);
    const minSide = LIMITS.minSide[mode] ?? LIMITS.minSide.analyze;
    if (short < minSide) {
      throw new ImageRejected("image_too_small", { width: originalWidth, height: originalHeight, min: minSide });
    }
    if (long / short > LIMITS.maxAspectRatio) {
      throw new ImageRejected("image_aspect_ratio", { ratio: (long / short).toFixed(1), max: LIMITS.maxAspectRatio });
    }
    let scale = Math.min(1, LIMITS.maxSide / long);
    for (;;) {
      const width = Math.max(1, Math.round(originalWidth * scale));
      const height = Math.max(1, Math.round(originalHeight * scale));
      if (Math.min(width, height) < minSide) {
        throw new ImageRejected("image_too_large", { size: `${originalWidth} × ${originalHeight} px` });
      }
      const canvas = document.createElement("canvas");
      canvas.width = width;
      canvas.height = height;
      const context = canvas.getContext("2d");
      context.imageSmoothingQuality = "high";
      context.drawImage(bitmap, 0, 0, width, height);
      for (const quality of QUALITIES) {
        const blob = await encode(canvas, quality);
        if (blob.size <= LIMITS.maxBytes) {
          canvas.width = canvas.height = 0; // free the pixels now, not at GC
          return { blob, width, height, originalWidth, originalHeight };
        }
      }
      canvas.width = canvas.height = 0;
      scale *= 0.75;
    }
  } finally {
    bitmap.close();
  }
}
