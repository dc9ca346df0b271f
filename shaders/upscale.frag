#version 330 core
// A keyframe upscaled (Catmull-Rom) and fitted to the output: a "plate". Runs once per
// keyframe, not once per frame: on a CPU rasterizer one Catmull-Rom lookup costs about
// five bilinear ones, and frames outnumber keyframes several times over. The plate may
// have fewer pixels than the output (the renderer caps its detail per keyframe texel);
// it covers the same picture, so the fit is worked out in output pixels.
#include "bicubic.glsl"

in vec2 v_uv;
out vec4 f_color;

uniform sampler2D u_keyframe;  // square, any size, top row first
uniform vec2 u_resolution;     // output size in pixels, not the plate's
uniform int u_cover;           // 1: the square fills the output (cropped); 0: fits inside (bars)

void main() {
    // Position from the output centre in units of the keyframe's side on screen.
    vec2 centred = (v_uv - 0.5) * u_resolution;
    float side = u_cover == 1 ? max(u_resolution.x, u_resolution.y)
                              : min(u_resolution.x, u_resolution.y);
    vec2 p = centred / side;
    vec2 uv = vec2(p.x + 0.5, 0.5 - p.y);  // screen y points up, image rows point down
    vec3 color = vec3(0.0);
    if (all(greaterThanEqual(uv, vec2(0.0))) && all(lessThanEqual(uv, vec2(1.0)))) {
        color = clamp(sample_bicubic(u_keyframe, uv), 0.0, 1.0);  // Catmull-Rom overshoots at edges
    }
    f_color = vec4(color, 1.0);
}
